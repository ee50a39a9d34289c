package displays

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
	"github.com/fasthttp/websocket"
)

const kpi = "commune/03244/kpi"

func TestSnapshotThenLiveEvents(t *testing.T) {
	h := startHub(t, newDB(t), hubConfig{})
	d, token := h.createDisplay("Sảnh", "03244", LayoutCommune, Internal)
	h.publish(kpi, kpiPayload("03244", 3, 1, 2))
	h.publish(kpi, kpiPayload("03244", 4, 1, 2))

	c := h.connect(map[string]any{"type": "hello", "token": token})
	snap := c.next("snapshot")
	if num(snap["seq"]) != 2 {
		t.Errorf("snapshot seq (position) = %v, want 2", snap["seq"])
	}
	disp := snap["display"].(map[string]any)
	if num(disp["id"]) != uint64(d.ID) || disp["active_layout"] != LayoutCommune || disp["scope_name"] == "" || disp["province"] != "11" {
		t.Errorf("snapshot display = %v", disp)
	}
	topics := snap["topics"].(map[string]any)
	for _, tp := range []string{kpi, "commune/03244/backlog", "commune/03244/devices", "commune/03244/meetings"} {
		if _, ok := topics[tp]; !ok {
			t.Errorf("snapshot lacks topic %s: %v", tp, topics)
		}
	}
	k := topics[kpi].(map[string]any)
	if num(k["seq"]) != 2 || num(k["data"].(map[string]any)["dossiers"].(map[string]any)["open"]) != 4 {
		t.Errorf("kpi in snapshot = %v", k)
	}
	if topics["commune/03244/devices"].(map[string]any)["data"] != nil {
		t.Errorf("a topic with no event should have null data")
	}
	if snap["epoch"] == "" || snap["build"] != "test-build" || snap["stale_after"] == nil {
		t.Errorf("snapshot header = %v", snap)
	}

	h.publish(kpi, kpiPayload("03244", 5, 2, 2))
	ev := c.next("event")
	if ev["topic"] != kpi || num(ev["seq"]) != 3 {
		t.Errorf("event = %v", ev)
	}
	// A topic the screen does not show never reaches it.
	h.publish("commune/03199/kpi", kpiPayload("03199", 1, 0, 0))
	h.publish("commune/03244/devices", devicesPayload("03244", time.Now(), 2, 0, 10))
	if ev := c.next("event"); ev["topic"] != "commune/03244/devices" {
		t.Errorf("got %v, want only the screen's topics", ev["topic"])
	}
}

func TestResumeReplaysMissedEventsInOrder(t *testing.T) {
	h := startHub(t, newDB(t), hubConfig{})
	_, token := h.createDisplay("Sảnh", "03244", LayoutCommune, Internal)
	h.publish(kpi, kpiPayload("03244", 1, 0, 0))
	c := h.connect(map[string]any{"type": "hello", "token": token})
	snap := c.next("snapshot")
	epoch := snap["epoch"].(string)
	resume := map[string]uint64{}
	for tp, v := range snap["topics"].(map[string]any) {
		resume[tp] = num(v.(map[string]any)["seq"])
	}
	c.ws.Close()

	for i := 2; i <= 4; i++ {
		h.publish(kpi, kpiPayload("03244", i, 0, 0))
	}
	h.publish("commune/03244/devices", devicesPayload("03244", time.Now(), 1, 0, 5))
	c2 := h.connect(map[string]any{"type": "hello", "token": token, "epoch": epoch, "resume": resume})
	res := c2.next("resumed", "snapshot")
	if res["type"] != "resumed" {
		t.Fatalf("got %s, want resumed", res["type"])
	}
	evs := res["events"].([]any)
	var kpiSeqs []uint64
	for _, e := range evs {
		m := e.(map[string]any)
		if m["topic"] == kpi {
			kpiSeqs = append(kpiSeqs, num(m["seq"]))
		}
	}
	if len(evs) != 4 || len(kpiSeqs) != 3 || kpiSeqs[0] != 2 || kpiSeqs[1] != 3 || kpiSeqs[2] != 4 {
		t.Fatalf("replayed %d events, kpi seqs %v; want 4 events, kpi 2,3,4", len(evs), kpiSeqs)
	}
	if num(res["seq"]) != 5 {
		t.Errorf("resumed position = %v, want 5", res["seq"])
	}
	h.publish(kpi, kpiPayload("03244", 5, 0, 0))
	if ev := c2.next("event"); num(ev["seq"]) != 5 {
		t.Errorf("after resume got seq %v, want 5", ev["seq"])
	}
	if metricValue(h.svc.metrics.resumes) != 1 {
		t.Errorf("resumes metric = %v", metricValue(h.svc.metrics.resumes))
	}
}

func TestGapOrOtherEpochGivesSnapshot(t *testing.T) {
	h := startHub(t, newDB(t), hubConfig{history: 8})
	_, token := h.createDisplay("Sảnh", "03244", LayoutCommune, Internal)
	h.publish(kpi, kpiPayload("03244", 1, 0, 0))
	c := h.connect(map[string]any{"type": "hello", "token": token})
	snap := c.next("snapshot")
	epoch := snap["epoch"].(string)
	resume := map[string]uint64{kpi: 1, "commune/03244/backlog": 0, "commune/03244/devices": 0, "commune/03244/meetings": 0}
	c.ws.Close()

	for i := 2; i <= 20; i++ { // more than the 8 the bus keeps
		h.publish(kpi, kpiPayload("03244", i, 0, 0))
	}
	cases := []struct {
		name  string
		hello map[string]any
	}{
		{"gap", map[string]any{"type": "hello", "token": token, "epoch": epoch, "resume": resume}},
		{"other epoch", map[string]any{"type": "hello", "token": token, "epoch": "0123456789abcdef", "resume": map[string]uint64{kpi: 20, "commune/03244/backlog": 0, "commune/03244/devices": 0, "commune/03244/meetings": 0}}},
		{"topic missing", map[string]any{"type": "hello", "token": token, "epoch": epoch, "resume": map[string]uint64{kpi: 20}}},
		{"ahead of the hub", map[string]any{"type": "hello", "token": token, "epoch": epoch, "resume": map[string]uint64{kpi: 99, "commune/03244/backlog": 0, "commune/03244/devices": 0, "commune/03244/meetings": 0}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := h.connect(tc.hello)
			m := c.next("resumed", "snapshot")
			if m["type"] != "snapshot" {
				t.Fatalf("got %s, want a fresh snapshot", m["type"])
			}
			k := m["topics"].(map[string]any)[kpi].(map[string]any)
			if num(k["seq"]) != 20 || num(k["data"].(map[string]any)["dossiers"].(map[string]any)["open"]) != 20 {
				t.Errorf("snapshot kpi = %v", k)
			}
		})
	}
}

// rawReader reads a socket until it sees marker or fails.
func rawReader(ws *websocket.Conn, marker string) (found chan struct{}, done chan error) {
	found, done = make(chan struct{}), make(chan error, 1)
	go func() {
		seen := false
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				done <- err
				return
			}
			if !seen && strings.Contains(string(b), marker) {
				seen = true
				close(found)
			}
		}
	}()
	return found, done
}

func helloSocket(t *testing.T, h *testHub, token string) *websocket.Conn {
	t.Helper()
	ws, _, err := h.dial(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	b, _ := json.Marshal(map[string]any{"type": "hello", "token": token})
	if err := ws.WriteMessage(websocket.TextMessage, b); err != nil {
		t.Fatal(err)
	}
	return ws
}

// slowCloseCode reads what a screen that stopped reading finally gets: the
// buffered frames, then 4408, or a cut connection (1006 or 0) when the hub
// had to abort a write in the middle of a frame.
func slowCloseCode(t *testing.T, ws *websocket.Conn) int {
	_ = ws.SetReadDeadline(time.Now().Add(hubtest.Timeout(10 * time.Second)))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				return ce.Code
			}
			return 0
		}
	}
}

func TestSlowConsumerIsCutOffAndOthersKeepUp(t *testing.T) {
	h := startHub(t, newDB(t), hubConfig{opts: func(o *Config) { o.WriteWait = time.Second }})
	_, token := h.createDisplay("Sảnh", "03244", LayoutCommune, Internal)
	fast := helloSocket(t, h, token)
	found, fastDone := rawReader(fast, `"marker":"end"`)
	slow := helloSocket(t, h, token) // says hello, then never reads
	hubtest.WaitFor(t, 5*time.Second, func() bool { return h.svc.connCount() == 2 }, "two sockets")

	big := strings.Repeat("x", 64<<10)
	topics := []string{kpi, "commune/03244/backlog", "commune/03244/devices", "commune/03244/meetings"}
	cut := func() bool { return metricValue(h.svc.metrics.slow.WithLabelValues("write_timeout")) >= 1 }
	deadline := time.Now().Add(hubtest.Timeout(20 * time.Second))
	for i := 0; !cut() && time.Now().Before(deadline); i++ {
		h.publish(topics[i%4], map[string]any{"i": i, "pad": big})
		time.Sleep(200 * time.Microsecond) // sleep: the publisher's pace
	}
	hubtest.WaitFor(t, 10*time.Second, cut, "the slow screen cut off by the write deadline")
	hubtest.WaitFor(t, 10*time.Second, func() bool { return h.svc.connCount() == 1 }, "only the fast socket left")

	// The fast screen kept up (coalescing spared it) and is still live.
	h.publish(kpi, map[string]any{"marker": "end"})
	select {
	case <-found:
	case err := <-fastDone:
		t.Fatalf("fast screen lost: %v", err)
	case <-time.After(hubtest.Timeout(5 * time.Second)):
		t.Fatalf("fast screen did not get the last event")
	}
	if c := slowCloseCode(t, slow); c != 0 && c != 1006 && c != CloseSlow {
		t.Errorf("slow screen closed with %d, want %d or a cut connection", c, CloseSlow)
	}
}

func TestQueueOverflowCutsOff(t *testing.T) {
	h := startHub(t, newDB(t), hubConfig{opts: func(o *Config) { o.MaxQueue = 100 << 10; o.WriteWait = 10 * time.Second }})
	_, token := h.createDisplay("Sảnh", "03244", LayoutCommune, Internal)
	slow := helloSocket(t, h, token)
	hubtest.WaitFor(t, 5*time.Second, func() bool { return h.svc.connCount() == 1 }, "the socket")
	big := strings.Repeat("x", 60<<10)
	cut := func() bool { return metricValue(h.svc.metrics.slow.WithLabelValues("queue_overflow")) >= 1 }
	deadline := time.Now().Add(hubtest.Timeout(20 * time.Second))
	for i := 0; !cut() && time.Now().Before(deadline); i++ {
		h.publish([]string{kpi, "commune/03244/backlog"}[i%2], map[string]any{"i": i, "pad": big})
		time.Sleep(200 * time.Microsecond) // sleep: the publisher's pace
	}
	hubtest.WaitFor(t, 10*time.Second, cut, "the overflowing screen cut off")
	hubtest.WaitFor(t, 10*time.Second, func() bool { return h.svc.connCount() == 0 }, "the socket closed")
	if c := slowCloseCode(t, slow); c != 0 && c != 1006 && c != CloseSlow {
		t.Errorf("closed with %d, want %d or a cut connection", c, CloseSlow)
	}
}

func TestBadInputClosesWithCodes(t *testing.T) {
	h := startHub(t, newDB(t), hubConfig{})
	d, token := h.createDisplay("Sảnh", "03244", LayoutCommune, Internal)
	cases := []struct {
		name   string
		send   func(c *client)
		code   int
		reason string
	}{
		{"unknown token", func(c *client) { c.send(map[string]any{"type": "hello", "token": "chd_nope"}) }, 4401, "unknown or revoked"},
		{"malformed JSON", func(c *client) { _ = c.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello",`)) }, 4400, "malformed JSON"},
		{"not an object", func(c *client) { _ = c.ws.WriteMessage(websocket.TextMessage, []byte(`[1,2]`)) }, 4400, "JSON object"},
		{"unknown type", func(c *client) { c.send(map[string]any{"type": "dance"}) }, 4400, `unknown message type "dance"`},
		{"first message not hello", func(c *client) { c.send(map[string]any{"type": "ping"}) }, 4400, "must be hello"},
		{"wrong field type", func(c *client) { c.send(map[string]any{"type": "hello", "token": 12}) }, 4400, "field token"},
		{"binary frame", func(c *client) { _ = c.ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2}) }, 4400, "binary"},
		{"unknown type after hello", func(c *client) {
			c.send(map[string]any{"type": "hello", "token": token})
			c.next("snapshot")
			c.send(map[string]any{"type": "rendered", "seq": 1, "layout": "disco"})
		}, 4400, "field layout"},
		{"second hello", func(c *client) {
			c.send(map[string]any{"type": "hello", "token": token})
			c.next("snapshot")
			c.send(map[string]any{"type": "hello", "token": token})
		}, 4400, "already received"},
		{"frame over 64 KiB", func(c *client) {
			c.send(map[string]any{"type": "hello", "token": token})
			c.next("snapshot")
			_ = c.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","pad":"`+strings.Repeat("x", 65<<10)+`"}`))
		}, 1009, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := h.connect(nil)
			tc.send(c)
			code, reason := c.closed()
			if code != tc.code || !strings.Contains(reason, tc.reason) {
				t.Errorf("closed with %d %q, want %d containing %q", code, reason, tc.code, tc.reason)
			}
		})
	}

	// Revocation closes a live screen with 4401 and refuses its token after.
	c := h.connect(map[string]any{"type": "hello", "token": token})
	c.next("snapshot")
	if code := h.do("DELETE", "/api/v1/displays/"+itoa(d.ID), nil, nil); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	if code, reason := c.closed(); code != 4401 || reason != "display revoked" {
		t.Errorf("revoked screen closed with %d %q", code, reason)
	}
	c = h.connect(map[string]any{"type": "hello", "token": token})
	if code, _ := c.closed(); code != 4401 {
		t.Errorf("revoked token: %d, want 4401", code)
	}
	if got := metricValue(h.svc.metrics.rejected.WithLabelValues("malformed")); got < 7 {
		t.Errorf("malformed rejects counted %v", got)
	}
}

func TestOriginIsChecked(t *testing.T) {
	h := startHub(t, newDB(t), hubConfig{})
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"http://" + h.addr, true},       // same origin
		{"http://127.0.0.1:9999", false}, // same host, another port: another origin
		{"http://evil.example", false},
	} {
		hdr := http.Header{}
		if tc.origin != "" {
			hdr.Set("Origin", tc.origin)
		}
		ws, resp, err := h.dial(hdr)
		if tc.ok != (err == nil) {
			t.Errorf("origin %q: err %v, want ok=%v", tc.origin, err, tc.ok)
		}
		if !tc.ok && (resp == nil || resp.StatusCode != 403) {
			t.Errorf("origin %q: response %v, want 403", tc.origin, resp)
		}
		if ws != nil {
			ws.Close()
		}
	}
	h2 := startHub(t, h.pool, hubConfig{origins: []string{"https://wall.example"}})
	hdr := http.Header{"Origin": {"https://wall.example"}}
	if ws, _, err := h2.dial(hdr); err != nil {
		t.Errorf("configured origin refused: %v", err)
	} else {
		ws.Close()
	}
	hdr.Set("Origin", "http://127.0.0.1")
	if _, _, err := h2.dial(hdr); err == nil {
		t.Errorf("an origin outside the configured list was admitted")
	}
}

func TestPairingFlow(t *testing.T) {
	h := startHub(t, newDB(t), hubConfig{})
	secret := "s3cret-of-the-tv-0123456789abcdef"
	c := h.connect(map[string]any{"type": "hello", "pair": secret})
	p := c.next("pairing")
	code, _ := p["code"].(string)
	if len(code) != 6 || strings.ContainsAny(code, "01OIL") {
		t.Fatalf("pairing code %q", code)
	}
	// Asking again keeps the code.
	c2 := h.connect(map[string]any{"type": "hello", "pair": secret})
	if p2 := c2.next("pairing"); p2["code"] != code {
		t.Errorf("second hello got code %v, want %s", p2["code"], code)
	}
	c2.ws.Close()

	var bad struct{ Error hub.Error }
	if st := h.do("POST", "/api/v1/displays/pair", map[string]any{"code": "ZZZZZ2", "name": "x", "scope": "03244", "layout": "commune", "classification": "public"}, &bad); st != 404 || bad.Error.Field != "code" {
		t.Errorf("unknown code: %d %+v", st, bad.Error)
	}
	if st := h.do("POST", "/api/v1/displays/pair", map[string]any{"code": strings.ToLower(code[:3]) + "-" + code[3:], "name": "Sảnh", "scope": "11", "layout": "commune", "classification": "public"}, &bad); st != 422 || bad.Error.Field != "layout" {
		t.Errorf("commune layout on a province: %d %+v", st, bad.Error)
	}
	var res struct{ Display Display }
	h.publish(kpi, kpiPayload("03244", 7, 0, 0))
	if st := h.do("POST", "/api/v1/displays/pair", map[string]any{"code": strings.ToLower(code[:3]) + "-" + code[3:], "name": "Sảnh", "scope": "03244", "layout": "commune", "classification": "internal"}, &res); st != 201 {
		t.Fatalf("pair: %d", st)
	}
	paired := c.next("paired")
	if num(paired["display_id"]) != uint64(res.Display.ID) {
		t.Errorf("paired = %v, want display %d", paired, res.Display.ID)
	}
	snap := c.next("snapshot")
	if num(snap["topics"].(map[string]any)[kpi].(map[string]any)["seq"]) != 1 {
		t.Errorf("snapshot after pairing = %v", snap["topics"])
	}
	// The code is spent; the secret is now the screen's token.
	if st := h.do("POST", "/api/v1/displays/pair", map[string]any{"code": code, "name": "x", "scope": "03244", "layout": "commune", "classification": "public"}, nil); st != 404 {
		t.Errorf("reused code: %d", st)
	}
	c3 := h.connect(map[string]any{"type": "hello", "token": secret})
	c3.next("snapshot")
	// A screen that reconnects with its pairing secret after being paired
	// while away is told so.
	c4 := h.connect(map[string]any{"type": "hello", "pair": secret})
	c4.next("paired")
	c4.next("snapshot")
}

func TestPublicScreensGetAggregatesOnly(t *testing.T) {
	h := startHub(t, newDB(t), hubConfig{})
	_, pub := h.createDisplay("Sảnh", "03244", LayoutCommune, Public)
	_, in := h.createDisplay("Phòng điều hành", "03244", LayoutCommune, Internal)
	now := time.Now()
	h.publish("commune/03244/backlog", backlogPayload("03244", now))
	cp := h.connect(map[string]any{"type": "hello", "token": pub})
	ci := h.connect(map[string]any{"type": "hello", "token": in})
	<-cp.raw // snapshot
	snapPub := mustNext(t, cp, "snapshot")
	<-ci.raw
	mustNext(t, ci, "snapshot")
	h.publish("commune/03244/backlog", backlogPayload("03244", now))
	h.publish("meeting/5", meetingPayload(5, now))
	rawPub := waitRaw(t, cp, `"topic":"commune/03244/backlog"`)
	rawIn := waitRaw(t, ci, `"topic":"commune/03244/backlog"`)
	for _, secret := range []string{citizen, "H17-260612", "25/UBND-VP", "UBND tỉnh"} {
		if strings.Contains(string(rawPub), secret) {
			t.Errorf("public event leaks %q: %s", secret, rawPub)
		}
		b, _ := json.Marshal(snapPub)
		if strings.Contains(string(b), secret) {
			t.Errorf("public snapshot leaks %q", secret)
		}
	}
	if !strings.Contains(string(rawIn), citizen) {
		t.Errorf("internal screen should get the whole payload")
	}
	var ev struct{ Data map[string]any }
	_ = json.Unmarshal(rawPub, &ev)
	over := ev.Data["dossiers"].(map[string]any)["overdue"].(map[string]any)
	if over["redacted"] != true || num(over["count"]) != 3 || num(over["by"].(map[string]any)["Đăng ký khai sinh"]) != 2 {
		t.Errorf("public overdue = %v", over)
	}
	if tr := ev.Data["trend"].([]any); len(tr) != 30 || tr[0].(map[string]any)["date"] == nil {
		t.Errorf("public trend lost: %v", ev.Data["trend"])
	}
}

func mustNext(t *testing.T, c *client, ty string) map[string]any {
	t.Helper()
	return c.next(ty)
}

// waitRaw returns the next raw message containing sub.
func waitRaw(t *testing.T, c *client, sub string) []byte {
	t.Helper()
	deadline := time.After(hubtest.Timeout(5 * time.Second))
	for {
		select {
		case b := <-c.raw:
			if strings.Contains(string(b), sub) {
				return b
			}
		case <-deadline:
			t.Fatalf("no message with %s", sub)
		}
	}
}

func TestCommandsAreAcknowledged(t *testing.T) {
	h := startHub(t, newDB(t), hubConfig{})
	d, token := h.createDisplay("Sảnh", "03244", LayoutCommune, Internal)
	c := h.connect(map[string]any{"type": "hello", "token": token})
	c.next("snapshot")

	var cmd Command
	if st := h.do("POST", "/api/v1/displays/"+itoa(d.ID)+"/commands", map[string]any{"command": "identify"}, &cmd); st != 202 {
		t.Fatalf("command: %d", st)
	}
	m := c.next("command")
	if m["command"] != "identify" || num(m["id"]) != uint64(cmd.ID) {
		t.Fatalf("command message = %v", m)
	}
	c.send(map[string]any{"type": "ack", "id": cmd.ID, "ok": true, "result": "identified"})
	hubtest.WaitFor(t, 5*time.Second, func() bool {
		var info DisplayInfo
		h.do("GET", "/api/v1/displays/"+itoa(d.ID), nil, &info)
		return info.LastCommand != nil && info.LastCommand.AckedAt != nil && info.LastCommand.Result == "identified"
	}, "the acknowledgement on the display")

	// Switching layout sends a new snapshot and the command to acknowledge.
	if st := h.do("POST", "/api/v1/displays/"+itoa(d.ID)+"/commands", map[string]any{"command": "layout", "layout": "province"}, &cmd); st != 202 {
		t.Fatalf("layout command: %d", st)
	}
	snap := c.next("snapshot")
	if snap["display"].(map[string]any)["active_layout"] != "province" {
		t.Errorf("layout after switch: %v", snap["display"])
	}
	if _, ok := snap["topics"].(map[string]any)["province/11/kpi"]; !ok {
		t.Errorf("province layout topics: %v", snap["topics"])
	}
	if m := c.next("command"); m["command"] != "layout" {
		t.Errorf("got %v", m)
	}
	// A screen that reconnects soon after gets an unacknowledged command again.
	c.ws.Close()
	c2 := h.connect(map[string]any{"type": "hello", "token": token})
	c2.next("snapshot")
	if m := c2.next("command"); num(m["id"]) != uint64(cmd.ID) {
		t.Errorf("pending command after reconnect: %v", m)
	}

	var e struct{ Error hub.Error }
	for _, body := range []map[string]any{{"command": "dance"}, {"command": "layout"}, {"command": "reload", "layout": "x"}, {"command": "layout", "layout": "disco"}} {
		if st := h.do("POST", "/api/v1/displays/"+itoa(d.ID)+"/commands", body, &e); st != 400 || e.Error.Field == "" {
			t.Errorf("%v: %d %+v", body, st, e.Error)
		}
	}
}

func TestHeartbeatsAndOffline(t *testing.T) {
	h := startHub(t, newDB(t), hubConfig{opts: func(o *Config) { o.Heartbeat = 400 * time.Millisecond }})
	d, token := h.createDisplay("Sảnh", "03244", LayoutCommune, Internal)
	c := h.connect(map[string]any{"type": "hello", "token": token, "build": "b1", "agent": "test"})
	c.next("snapshot")
	if p := c.next("ping"); p["time"] == nil {
		t.Errorf("ping = %v", p)
	}
	c.send(map[string]any{"type": "rendered", "seq": 0, "layout": "commune", "topics": map[string]uint64{kpi: 0}, "heap": 12345678, "errors": []string{"boom"}, "error_count": 1})
	info := func() DisplayInfo {
		var di DisplayInfo
		h.do("GET", "/api/v1/displays/"+itoa(d.ID), nil, &di)
		return di
	}
	hubtest.WaitFor(t, 5*time.Second, func() bool { i := info(); return i.Status.Online && i.Status.JSHeap == 12345678 }, "status online with heap")
	h.publish(kpi, kpiPayload("03244", 1, 0, 0))
	h.publish(kpi, kpiPayload("03244", 2, 0, 0))
	if i := info(); i.Status.BehindBy == nil || *i.Status.BehindBy != 2 || i.Status.Errors[0] != "boom" || i.Status.Build != "b1" {
		t.Errorf("status = %+v", i.Status)
	}
	// Keep the socket alive with pings for a while…
	for i := 0; i < 6; i++ {
		time.Sleep(300 * time.Millisecond) // sleep: the screen's heartbeat pace
		c.send(map[string]any{"type": "ping"})
	}
	// …then go silent: two missed heartbeats close it and mark it offline.
	start := time.Now()
	code, _ := c.closed()
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("silent socket closed after %v", el)
	}
	_ = code
	hubtest.WaitFor(t, 5*time.Second, func() bool { return !info().Status.Online }, "the screen offline")
	if metricValue(h.svc.metrics.closes.WithLabelValues("heartbeat")) != 1 {
		t.Errorf("heartbeat close not counted")
	}
}

func TestSweepMarksScreensOfDeadInstancesOffline(t *testing.T) {
	h := startHub(t, newDB(t), hubConfig{opts: func(o *Config) { o.Heartbeat = time.Second }})
	d, _ := h.createDisplay("Sảnh", "03244", LayoutCommune, Internal)
	ctx := context.Background()
	if _, err := h.pool.Exec(ctx, `INSERT INTO display_status(display_id, online, instance, last_seen) VALUES ($1, true, 'dead', now() - interval '1 hour')`, d.ID); err != nil {
		t.Fatal(err)
	}
	h.svc.sweep(ctx)
	var online bool
	_ = h.pool.QueryRow(ctx, `SELECT online FROM display_status WHERE display_id=$1`, d.ID).Scan(&online)
	if online {
		t.Errorf("a screen silent for an hour is still online")
	}
}

func TestNoGoroutinesLeak(t *testing.T) {
	pool := newDB(t)
	before := runtime.NumGoroutine()
	h := startHub(t, pool, hubConfig{})
	_, token := h.createDisplay("Sảnh", "03244", LayoutCommune, Internal)
	for i := 0; i < 30; i++ {
		c := h.connect(map[string]any{"type": "hello", "token": token})
		c.next("snapshot")
		switch i % 3 {
		case 0:
			c.ws.Close()
		case 1:
			c.send(map[string]any{"type": "nonsense"})
			c.closed()
		default:
			_ = c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "bye"))
			c.closed()
		}
	}
	hubtest.WaitFor(t, 5*time.Second, func() bool { return h.svc.connCount() == 0 }, "every socket gone")
	h.stop()
	hubtest.WaitFor(t, 10*time.Second, func() bool { return runtime.NumGoroutine() <= before+2 }, "goroutines back to baseline")
}

func TestAPIValidation(t *testing.T) {
	h := startHub(t, newDB(t), hubConfig{})
	var e struct{ Error hub.Error }
	cases := []struct {
		body  any
		field string
		code  int
	}{
		{map[string]any{"scope": "03244", "layout": "commune", "classification": "public"}, "name", 400},
		{map[string]any{"name": "x", "scope": "99999", "layout": "commune", "classification": "public"}, "scope", 422},
		{map[string]any{"name": "x", "scope": "03244", "layout": "disco", "classification": "public"}, "layout", 400},
		{map[string]any{"name": "x", "scope": "03244", "layout": "commune", "classification": "secret"}, "classification", 400},
		{map[string]any{"name": "x", "scope": "03244", "layout": "commune", "classification": "public", "lang": "fr"}, "lang", 400},
		{map[string]any{"name": "x", "scope": "03244", "layout": "commune", "classification": "public", "colour": 1}, "colour", 400},
		{map[string]any{"name": 5}, "name", 400},
		{map[string]any{"name": "x", "scope": "03244", "layout": "commune", "classification": "public",
			"schedule": []map[string]any{{"from": "11:00", "to": "08:00", "layout": "meeting"}}}, "schedule[0].to", 400},
	}
	for _, tc := range cases {
		if st := h.do("POST", "/api/v1/displays", tc.body, &e); st != tc.code || e.Error.Field != tc.field {
			t.Errorf("%v: %d field %q (%s), want %d field %q", tc.body, st, e.Error.Field, e.Error.Message, tc.code, tc.field)
		}
	}
	if st := h.do("GET", "/api/v1/displays/abc", nil, &e); st != 400 || e.Error.Field != "id" {
		t.Errorf("bad id: %d %+v", st, e.Error)
	}
	if st := h.do("DELETE", "/api/v1/displays/999", nil, &e); st != 404 {
		t.Errorf("revoke unknown: %d", st)
	}
	// Roles: a viewer may not manage screens.
	_, viewer, _ := hub.NewAuth(h.pool, hub.AuthConfig{}, nil).CreateToken(context.Background(), "v", hub.RoleViewer, "")
	req, _ := http.NewRequest("GET", "http://"+h.addr+"/api/v1/displays", nil)
	req.Header.Set("Authorization", "Bearer "+viewer)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("viewer listing screens: %v %v", resp, err)
	}
}

func itoa(v int64) string { b, _ := json.Marshal(v); return string(b) }

// A screen that reports what it has read ("read") is sent at most the
// window (2) of messages it has not reported; events meanwhile wait at the
// hub and coalesce, and a report brings the newest state. Without it the
// hub would write all of them into the kernel's buffers, where a slow
// screen falls seconds behind.
func TestReadReportsBoundWhatAScreenIsBehind(t *testing.T) {
	h := startHub(t, newDB(t), hubConfig{})
	_, token := h.createDisplay("Sảnh", "03244", LayoutCommune, Internal)
	c := h.connect(map[string]any{"type": "hello", "token": token})
	c.next("snapshot")
	c.send(map[string]any{"type": "read", "n": 1 << 40}) // all read so far: flow control on
	frames := func() (n int, last uint64, events int) {
		for {
			select {
			case b := <-c.raw:
				var m struct {
					Type   string
					Seq    uint64
					Events []struct{ Seq uint64 }
				}
				_ = json.Unmarshal(b, &m)
				n++
				switch m.Type {
				case "event":
					last, events = m.Seq, events+1
				case "events":
					for _, e := range m.Events {
						last, events = e.Seq, events+1
					}
				}
			default:
				return n, last, events
			}
		}
	}
	time.Sleep(hubtest.Timeout(200 * time.Millisecond)) // sleep: a quiet window for the hub's opening messages
	frames()                                            // the snapshot and what followed it
	var lastSeq uint64
	for i := range 40 {
		lastSeq = h.publish(kpi, kpiPayload("03244", i, 0, 0)).Seq
		time.Sleep(time.Millisecond) // sleep: the publishers' pace, so that the waiting events span the coalescing age
	}
	time.Sleep(hubtest.Timeout(300 * time.Millisecond)) // sleep: a quiet window in which nothing more may be sent
	n, last, events := frames()
	if n > 2 || events >= 40 || last == lastSeq {
		t.Fatalf("with no report: %d messages, %d events, the last seq %d of %d: want at most 2 messages (the window) and the rest held", n, events, last, lastSeq)
	}
	c.send(map[string]any{"type": "read", "n": 1 << 40})
	var got, more int
	hubtest.WaitFor(t, 5*time.Second, func() bool {
		m, l, e := frames()
		got, more = got+m, more+e
		if l != 0 {
			last = l
		}
		return last == lastSeq
	}, "the newest state after the report")
	if events+more >= 40 {
		t.Errorf("%d of 40 events sent: the held ones should have coalesced", events+more)
	}
}
