package displays

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/communehub/communehub/hub/hubtest"
	"github.com/fasthttp/websocket"
)

// shownState is what a test screen shows per topic, applied as wall.js
// does: a state replaces the shown one only when its seq is newer.
type shownState struct {
	mu     sync.Mutex
	topics map[string]shownTopic
	err    error
}

type shownTopic struct {
	Seq  uint64
	Data json.RawMessage
}

func (s *shownState) apply(topic string, seq uint64, data json.RawMessage) {
	if cur, ok := s.topics[topic]; !ok || seq > cur.Seq {
		s.topics[topic] = shownTopic{Seq: seq, Data: data}
	}
}

// read follows one socket until it fails; pause, when set, is called after
// each message (a slow screen).
func (s *shownState) read(ws *websocket.Conn, pause func()) {
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			return
		}
		var m struct {
			Type   string
			Topic  string
			Seq    uint64
			Data   json.RawMessage
			Topics map[string]topicState
			Events []struct {
				Topic string
				Seq   uint64
				Data  json.RawMessage
			}
		}
		if err := json.Unmarshal(b, &m); err != nil {
			s.mu.Lock()
			s.err = fmt.Errorf("bad message %.80q: %w", b, err)
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		switch m.Type {
		case "snapshot":
			for t, ts := range m.Topics {
				s.apply(t, ts.Seq, ts.Data)
			}
		case "event":
			s.apply(m.Topic, m.Seq, m.Data)
		case "events", "resumed":
			for _, e := range m.Events {
				s.apply(e.Topic, e.Seq, e.Data)
			}
		}
		s.mu.Unlock()
		if pause != nil {
			pause()
		}
	}
}

// No wall ever ends on a stale state: after a burst of events on several
// topics to many screens, some of them slow and one stalled for a while,
// every screen shows each topic's last published state.
func TestNoScreenEndsOnAStaleState(t *testing.T) {
	hubtest.SkipShort(t, "a burst of thousands of events to 24 screens")
	h := startHub(t, newDB(t), hubConfig{})
	_, tokA := h.createDisplay("Sảnh", "03244", LayoutCommune, Internal)
	_, tokB := h.createDisplay("Phòng điều hành", "03244", LayoutCommune, Internal)
	topics := []string{kpi, "commune/03244/backlog", "commune/03244/devices", "commune/03244/meetings"}

	const screens = 24
	stall := make(chan struct{})
	states := make([]*shownState, screens)
	var readers sync.WaitGroup
	for i := range screens {
		tok := tokA
		if i%2 == 1 {
			tok = tokB
		}
		ws := helloSocket(t, h, tok)
		st := &shownState{topics: map[string]shownTopic{}}
		states[i] = st
		var pause func()
		switch {
		case i == 0: // stalls during the burst, then reads again
			once := sync.Once{}
			pause = func() { once.Do(func() { <-stall }) }
		case i%4 == 1: // slower than the events come
			pause = func() { time.Sleep(2 * time.Millisecond) } // sleep: a slow screen's rendering
		}
		readers.Add(1)
		go func() { defer readers.Done(); st.read(ws, pause) }()
		t.Cleanup(func() { ws.Close() })
	}
	t.Cleanup(readers.Wait)
	hubtest.WaitFor(t, 10*time.Second, func() bool {
		for _, st := range states {
			st.mu.Lock()
			n := len(st.topics)
			st.mu.Unlock()
			if n != len(topics) {
				return false
			}
		}
		return true
	}, "every screen's snapshot")

	pad := strings.Repeat("x", 1000)
	last := map[string]uint64{}
	for i := range 2000 {
		topic := topics[(i*7/3)%len(topics)] // uneven: runs of one topic, as a busy commune sends
		ev := h.publish(topic, map[string]any{"n": i, "pad": pad})
		last[topic] = ev.Seq
		if i == 1000 {
			close(stall)
		}
	}
	stale := func() string {
		for i, st := range states {
			st.mu.Lock()
			err := st.err
			for _, topic := range topics {
				if got := st.topics[topic].Seq; got != last[topic] {
					st.mu.Unlock()
					return fmt.Sprintf("screen %d shows %s seq %d, last published %d (socket: %v)", i, topic, got, last[topic], err)
				}
			}
			st.mu.Unlock()
		}
		return ""
	}
	hubtest.WaitFor(t, 20*time.Second, func() bool { return stale() == "" }, "every screen on every topic's last state")
	for i, st := range states {
		st.mu.Lock()
		for _, topic := range topics {
			want := h.svc.d.Bus.Latest(topic)
			if got := st.topics[topic]; string(got.Data) != string(want.Data) {
				t.Errorf("screen %d: %s shows %.60s, want %.60s", i, topic, got.Data, want.Data)
			}
		}
		if st.err != nil {
			t.Errorf("screen %d lost its socket: %v", i, st.err)
		}
		st.mu.Unlock()
	}
	t.Logf("coalesced for screens that were behind: %v of %d events × %d screens",
		metricValue(h.svc.metrics.coalesced), 2000, screens)
}
