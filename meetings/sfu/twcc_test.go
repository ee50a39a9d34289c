package sfu

import (
	"sync"
	"testing"
	"time"

	"github.com/communehub/communehub/hub/hubtest"
	"github.com/pion/rtcp"
)

// Feedback goes out with the first packet at least twccInterval after the
// last feedback, reports every packet once across a sequence-number wrap
// and a few losses, and what arrived after the last one is sent by the
// timer when packets stop. Nothing is written after stop.
func TestTWCCFeedbackIntervalsAndTail(t *testing.T) {
	var mu sync.Mutex
	var got []*rtcp.TransportLayerCC
	f := newTWCCFeedback(1, func(pkts []rtcp.Packet) error {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range pkts {
			tcc, ok := p.(*rtcp.TransportLayerCC)
			if !ok {
				t.Errorf("feedback %T, want transport-cc", p)
				continue
			}
			got = append(got, tcc)
		}
		return nil
	})
	t0 := time.Now().UnixNano()
	const n = 100
	received := 0
	for i := range n {
		if i%20 == 7 {
			continue // lost on the way
		}
		received++
		f.record(0xbeef, uint16(65500+i), t0+int64(i)*int64(10*time.Millisecond))
	}
	mu.Lock()
	inline := len(got)
	mu.Unlock()
	// Packets 10 ms apart for 990 ms: feedback at 0, 100, …, 900 ms.
	if inline != 10 {
		t.Fatalf("%d feedback packets while packets arrived for 990 ms, want 10", inline)
	}
	hubtest.WaitFor(t, 2*time.Second, func() bool { // the tail timer: 2×twccInterval
		mu.Lock()
		defer mu.Unlock()
		return len(got) > inline
	}, "the tail feedback")
	time.Sleep(hubtest.Timeout(twccInterval)) // sleep: a quiet window: one tail, not more
	mu.Lock()
	defer mu.Unlock()
	if len(got) != inline+1 {
		t.Fatalf("%d feedback packets after packets stopped, want %d (the tail)", len(got), inline+1)
	}
	status, deltas := 0, 0
	for i, fb := range got {
		if i == 0 && fb.BaseSequenceNumber != 65500 {
			t.Fatalf("first feedback starts at %d, want 65500", fb.BaseSequenceNumber)
		}
		if fb.MediaSSRC != 0xbeef {
			t.Fatalf("feedback for ssrc %#x", fb.MediaSSRC)
		}
		status += int(fb.PacketStatusCount)
		deltas += len(fb.RecvDeltas)
	}
	if status != n || deltas != received {
		t.Fatalf("feedback covers %d packets and reports %d received, want %d and %d", status, deltas, n, received)
	}
	f.stop()
	f.record(0xbeef, 100, time.Now().UnixNano()+int64(time.Second))
	time.Sleep(hubtest.Timeout(3 * twccInterval)) // sleep: a quiet window: nothing after stop
	if len(got) != inline+1 {
		t.Fatalf("feedback written after stop")
	}
}
