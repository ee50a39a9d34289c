package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/fasthttp/websocket"
)

func (h *testHub) listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.app.Listener(ln) }()
	t.Cleanup(func() { _ = h.app.ShutdownWithTimeout(2 * time.Second) })
	return ln.Addr().String()
}

func TestEventSocket(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	addr := h.listen(t)
	_, tok, _ := h.auth.CreateToken(context.Background(), "wall-script", hub.RoleViewer, "")

	// No credentials: refused before the upgrade.
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws?topic=commune/03244/devices", nil)
	if err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("unauthenticated dial: err=%v resp=%v", err, resp)
	}
	// Bad topic: 400 naming the field.
	_, resp, _ = websocket.DefaultDialer.Dial("ws://"+addr+"/ws?topic=a//b&access_token="+tok, nil)
	if resp == nil || resp.StatusCode != 400 {
		t.Fatalf("bad topic: %v", resp)
	}

	hdr := http.Header{"Authorization": {"Bearer " + tok}}
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws?topic=commune/03244/devices&topic=meeting/%2B", hdr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hubtestWait(t, func() bool { return h.sockets.Count() == 1 }) // subscribed
	h.bus.Publish("commune/03199/devices", map[string]int{"other": 1})
	h.bus.Publish("commune/03244/devices", map[string]int{"online": 3})
	h.bus.Publish("meeting/7", map[string]string{"speaker": "chair"})
	var got []string
	for len(got) < 2 {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v (got %v)", err, got)
		}
		var ev struct {
			Type, Topic string
			Seq         uint64
			Data        json.RawMessage
		}
		if err := json.Unmarshal(msg, &ev); err != nil || ev.Type != "event" || ev.Seq != 1 {
			t.Fatalf("frame %s", msg)
		}
		got = append(got, ev.Topic+" "+string(ev.Data))
	}
	if got[0] != `commune/03244/devices {"online":3}` || got[1] != `meeting/7 {"speaker":"chair"}` {
		t.Fatalf("events = %q", got)
	}
}

func TestEventSocketClosedWith1001OnShutdown(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	addr := h.listen(t)
	_, tok, _ := h.auth.CreateToken(context.Background(), "x", hub.RoleViewer, "")
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws?topic=t/x&access_token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hubtestWait(t, func() bool { return h.sockets.Count() == 1 })
	h.sockets.CloseAll(hub.CloseGoingAway, "hub shutting down", 2*time.Second)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != hub.CloseGoingAway || !strings.Contains(ce.Text, "shutting down") {
		t.Fatalf("read after shutdown: %v", err)
	}
	if n := h.sockets.Count(); n != 0 {
		t.Errorf("%d sockets still tracked", n)
	}
}

func hubtestWait(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 2s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A guarded topic is refused when asked for by name, and filtered out of a
// wildcard subscription, for principals the guard does not admit.
func TestEventSocketTopicGuards(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	h.core.Guards.Guard("meeting/+/log", func(_ context.Context, p *hub.Principal, topic string) bool {
		return p.Is(hub.RoleOfficer)
	})
	addr := h.listen(t)
	_, viewer, _ := h.auth.CreateToken(context.Background(), "v", hub.RoleViewer, "")
	_, officer, _ := h.auth.CreateToken(context.Background(), "o", hub.RoleOfficer, "")

	_, resp, _ := websocket.DefaultDialer.Dial("ws://"+addr+"/ws?topic=meeting/1/log&access_token="+viewer, nil)
	if resp == nil || resp.StatusCode != 403 {
		t.Fatalf("viewer asking for a guarded topic: %v", resp)
	}
	read := func(tok string) []string {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws?topic=meeting/%23&access_token="+tok, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		hubtestWait(t, func() bool { return h.sockets.Count() == 1 })
		h.bus.Publish("meeting/1/log", "ballot of Lan: yes")
		h.bus.Publish("meeting/1", "state")
		var got []string
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				break
			}
			var ev struct{ Topic string }
			_ = json.Unmarshal(msg, &ev)
			got = append(got, ev.Topic)
		}
		c.Close()
		hubtestWait(t, func() bool { return h.sockets.Count() == 0 })
		return got
	}
	if got := read(viewer); len(got) != 1 || got[0] != "meeting/1" {
		t.Errorf("viewer on meeting/# got %v, want only meeting/1", got)
	}
	if got := read(officer); len(got) != 2 {
		t.Errorf("officer on meeting/# got %v, want both topics", got)
	}
}
