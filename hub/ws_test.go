package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
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
		_ = c.SetReadDeadline(time.Now().Add(hubtest.Timeout(2 * time.Second)))
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
	_ = c.SetReadDeadline(time.Now().Add(hubtest.Timeout(2 * time.Second)))
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
	hubtest.WaitFor(t, 2*time.Second, cond, "the condition")
}

// A guarded topic is refused when asked for by name, and filtered out of a
// wildcard subscription, for principals the guard does not admit.
func TestEventSocketTopicGuards(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	h.core.Guards.Guard("meeting/+/log", func(_ context.Context, p *hub.Principal, topic string) (bool, error) {
		return p.Is(hub.RoleOfficer), nil
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
		_ = c.SetReadDeadline(time.Now().Add(hubtest.Timeout(500 * time.Millisecond)))
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

// Access that ends while a socket is open ends its events: after an
// announcement on the topics given to InvalidateOn, a wildcard socket stops
// receiving the guarded topic and a socket that named it is closed with
// 4403. A guard that cannot answer (the database down) neither opens a
// socket (503) nor cuts an open one off.
func TestEventSocketGuardAnswersChange(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	var allowed, failing atomic.Bool
	allowed.Store(true)
	h.core.Guards.Guard("meeting/+/log", func(context.Context, *hub.Principal, string) (bool, error) {
		if failing.Load() {
			return false, errors.New("database unreachable")
		}
		return allowed.Load(), nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- h.core.Guards.InvalidateOn(ctx, h.bus, "meeting/+/access") }()
	t.Cleanup(func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Errorf("InvalidateOn: %v", err)
		}
	})
	addr := h.listen(t)
	_, tok, _ := h.auth.CreateToken(context.Background(), "o", hub.RoleOfficer, "")
	dial := func(topic string) *websocket.Conn {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws?topic="+topic+"&access_token="+tok, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// next returns the next event's data, or the error that ended the socket.
	next := func(c *websocket.Conn) (string, error) {
		_ = c.SetReadDeadline(time.Now().Add(hubtest.Timeout(2 * time.Second)))
		_, msg, err := c.ReadMessage()
		if err != nil {
			return "", err
		}
		var ev struct{ Data string }
		_ = json.Unmarshal(msg, &ev)
		return ev.Data, nil
	}
	wild, named := dial("meeting/%23"), dial("meeting/1/log")
	hubtestWait(t, func() bool { return h.sockets.Count() == 2 })

	h.bus.Publish("meeting/1/log", "before")
	for _, c := range []*websocket.Conn{wild, named} {
		if got, err := next(c); got != "before" {
			t.Fatalf("while admitted: %q, %v", got, err)
		}
	}
	// The guard cannot answer: open sockets keep their answer...
	failing.Store(true)
	h.core.Guards.Invalidate()
	h.bus.Publish("meeting/1/log", "db down")
	for _, c := range []*websocket.Conn{wild, named} {
		if got, err := next(c); got != "db down" {
			t.Fatalf("guard failing on an open socket: %q, %v", got, err)
		}
	}
	// ...and a new one is refused with 503, naming the field.
	_, resp, _ := websocket.DefaultDialer.Dial("ws://"+addr+"/ws?topic=meeting/1/log&access_token="+tok, nil)
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial while the guard fails: %v", resp)
	}
	var body struct{ Error struct{ Field string } }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if body.Error.Field != "topic" {
		t.Errorf("503 body names %q, want topic", body.Error.Field)
	}
	failing.Store(false)

	// Access ends, and the hub announces it. The announcement reaches the
	// guards and the sockets on different goroutines, so rounds of a log
	// event and an open one follow until a round comes without the log.
	allowed.Store(false)
	h.bus.Publish("meeting/1/access", map[string]any{"meeting": 1, "invitee": 7, "reason": "removed"})
	cut := false
	for round, end := 0, time.Now().Add(hubtest.Timeout(time.Second)); time.Now().Before(end) && !cut; round++ {
		log, open := fmt.Sprintf("log %d", round), fmt.Sprintf("open %d", round)
		h.bus.Publish("meeting/1/log", log)
		h.bus.Publish("meeting/1", open)
		sawLog := false
		for {
			got, err := next(wild)
			if err != nil {
				t.Fatalf("wildcard socket: %v", err)
			}
			sawLog = sawLog || got == log
			if got == open {
				break
			}
		}
		cut = !sawLog
		if !cut {
			time.Sleep(20 * time.Millisecond) // sleep: the polling interval
		}
	}
	if !cut {
		t.Fatal("the wildcard socket still receives the log 1 s after access ended")
	}
	h.bus.Publish("meeting/1/log", "later")
	h.bus.Publish("meeting/1", "last")
	if got, err := next(wild); got != "last" {
		t.Errorf("wildcard socket after access ended: %q, %v (want the log skipped)", got, err)
	}
	var ce *websocket.CloseError
	for {
		_, err := next(named)
		if errors.As(err, &ce) {
			break
		}
		if err != nil {
			t.Fatalf("named socket after access ended: %v, want close 4403", err)
		}
	}
	if ce.Code != hub.CloseForbidden || !strings.Contains(ce.Text, "meeting/1/log") {
		t.Errorf("named socket closed with %d %q, want 4403 naming the topic", ce.Code, ce.Text)
	}
}

// A guest (a credential an admitter recognises, such as a meeting pass)
// follows only the topics a guard allows it: a topic no guard matches is
// refused by name and filtered out of its wildcards, though any token may
// follow it. An admitter that cannot answer refuses the socket with 503.
func TestEventSocketGuestFollowsOnlyGuardedTopics(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	var broken atomic.Bool
	h.core.Guards.Admit(func(c *fiber.Ctx) (*hub.Principal, error) {
		if broken.Load() {
			return nil, errors.New("database unreachable")
		}
		if c.Cookies("guest_pass") != "ok" {
			return nil, nil
		}
		return &hub.Principal{ID: 42, Name: "Giàng A Chu", Role: hub.RoleAdmin}, nil // the role is dropped
	})
	h.core.Guards.Guard("meeting/7", func(_ context.Context, p *hub.Principal, _ string) (bool, error) {
		return p.Kind == hub.KindGuest && p.ID == 42 && !p.Is(hub.RoleAdmin), nil
	})
	addr := h.listen(t)
	guest := http.Header{"Cookie": {"guest_pass=ok"}}
	dial := func(topic string, hdr http.Header) (*websocket.Conn, int) {
		c, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws?topic="+topic, hdr)
		if err != nil {
			if resp == nil {
				t.Fatal(err)
			}
			return nil, resp.StatusCode
		}
		t.Cleanup(func() { c.Close() })
		return c, http.StatusSwitchingProtocols
	}
	if _, code := dial("meeting/7", http.Header{"Cookie": {"guest_pass=no"}}); code != 401 {
		t.Errorf("no credential the admitter knows: %d, want 401", code)
	}
	if _, code := dial("commune/03244/devices", guest); code != 403 {
		t.Errorf("a guest naming an unguarded topic: %d, want 403", code)
	}
	if _, code := dial("meeting/7", guest); code != 101 {
		t.Errorf("a guest naming the topic its guard allows: %d, want 101", code)
	}
	c, _ := dial("%23", guest)
	if c == nil {
		t.Fatal("a guest on # refused")
	}
	hubtestWait(t, func() bool { return h.sockets.Count() == 2 })
	h.bus.Publish("commune/03244/devices", map[string]int{"online": 3})
	h.bus.Publish("meeting/8", "another meeting")
	h.bus.Publish("meeting/7", "its meeting")
	_ = c.SetReadDeadline(time.Now().Add(hubtest.Timeout(5 * time.Second)))
	_, msg, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var ev struct{ Topic string }
	_ = json.Unmarshal(msg, &ev)
	if ev.Topic != "meeting/7" {
		t.Errorf("a guest on # got %s first, want only meeting/7", msg)
	}
	broken.Store(true)
	if _, code := dial("meeting/7", guest); code != 503 {
		t.Errorf("an admitter that cannot answer: %d, want 503", code)
	}
}

// An open /ws socket ends with its credential: once the user is disabled,
// the session logged out or the token revoked, the socket is closed with
// 4401 within a recheck period, not left streaming until it reconnects.
func TestEventSocketEndsWithItsCredential(t *testing.T) {
	t.Parallel()
	h := newTestHubWith(t, hub.AuthConfig{}, func(c *hub.Core) { c.WSRecheck = 100 * time.Millisecond })
	addr := h.listen(t)
	ctx := context.Background()
	for _, u := range []string{"bi-khoa", "dang-xuat"} {
		if _, err := h.auth.CreateUser(ctx, u, hub.RoleViewer, "mat-khau-dai-1"); err != nil {
			t.Fatal(err)
		}
	}
	tokID, tok, _ := h.auth.CreateToken(ctx, "script", hub.RoleViewer, "")
	session := func(user string) http.Header {
		cookie, _, err := h.auth.Login(ctx, user, "mat-khau-dai-1")
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{"Cookie": {hub.SessionCookie + "=" + cookie}}
	}
	dial := func(query string, hdr http.Header) *websocket.Conn {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws?topic=t/x"+query, hdr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	logoutHdr := session("dang-xuat")
	cases := []struct {
		what string
		ws   *websocket.Conn
		end  func()
	}{
		{"a disabled user", dial("", session("bi-khoa")), func() { _ = h.auth.SetDisabled(ctx, "bi-khoa", true) }},
		{"a session logged out", dial("", logoutHdr), func() {
			if err := h.auth.Logout(ctx, strings.TrimPrefix(logoutHdr.Get("Cookie"), hub.SessionCookie+"=")); err != nil {
				t.Fatal(err)
			}

		}},
		{"a revoked token", dial("&access_token="+tok, nil), func() { _ = h.auth.RevokeToken(ctx, tokID) }},
	}
	kept := dial("", session("dang-xuat")) // another session of a user who logged out elsewhere
	h.bus.Publish("t/x", json.RawMessage(`{"n":1}`))
	for _, c := range cases {
		_ = c.ws.SetReadDeadline(time.Now().Add(hubtest.Timeout(5 * time.Second)))
		if _, _, err := c.ws.ReadMessage(); err != nil {
			t.Fatalf("%s: the first event: %v", c.what, err)
		}
		c.end()
	}
	for _, c := range cases {
		_ = c.ws.SetReadDeadline(time.Now().Add(hubtest.Timeout(15 * time.Second))) // a bound on failure: a pass takes a period or two
		var err error
		for err == nil {
			_, _, err = c.ws.ReadMessage()
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != hub.CloseUnauthorized {
			t.Errorf("%s: the socket ended with %v, want close %d", c.what, err, hub.CloseUnauthorized)
		}
	}
	// A credential still valid keeps its socket over those periods (events
	// may share a frame: read until the second one).
	h.bus.Publish("t/x", json.RawMessage(`{"n":2}`))
	_ = kept.SetReadDeadline(time.Now().Add(hubtest.Timeout(5 * time.Second)))
	for {
		_, b, err := kept.ReadMessage()
		if err != nil {
			t.Fatalf("a valid session's socket: %v", err)
		}
		if strings.Contains(string(b), `"n":2`) {
			break
		}
	}
}
