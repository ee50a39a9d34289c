package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
	"github.com/communehub/communehub/meetings"
	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"
)

// wiredHub runs the hub as main wires it, on a new database, and returns
// its address, the database and every route it registered.
func wiredHub(t *testing.T) (addr, dbURL string, routes []fiber.Route) {
	t.Helper()
	_, dbURL = hubtest.NewDB(t)
	cfg, _, err := ParseConfig(nil, env(map[string]string{
		"COMMUNEHUB_ADDR":         fmt.Sprintf("127.0.0.1:%d", hubtest.FreePort(t)),
		"COMMUNEHUB_DATABASE_URL": dbURL,
		"COMMUNEHUB_MQTT_LISTEN":  fmt.Sprintf("127.0.0.1:%d", hubtest.FreePort(t)),
		"COMMUNEHUB_DATA_DIR":     t.TempDir(),
	}))
	if err != nil {
		t.Fatal(err)
	}
	wired := make(chan []fiber.Route, 1)
	cfg.appHook = func(app *fiber.App) { wired <- app.GetRoutes(true) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, slog.New(slog.DiscardHandler), io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case routes = <-wired:
	case err := <-done:
		done <- err
		t.Fatalf("Run ended early: %v", err)
	case <-time.After(hubtest.Timeout(60 * time.Second)):
		t.Fatal("hub not wired within 60s")
	}
	// /healthz answers from the start (the stand-in); /readyz 200 says the
	// wired app serves.
	hubtest.WaitFor(t, 10*time.Second, func() bool {
		resp, err := http.Get("http://" + cfg.Addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "the wired hub serving")
	return cfg.Addr, dbURL, routes
}

// apiRoute is one /api/v1 route with its parameters filled in.
type apiRoute struct{ method, pattern, path string }

// apiRoutes lists the /api/v1 routes except login, every parameter set to
// param.
func apiRoutes(list []fiber.Route, param string) []apiRoute {
	var out []apiRoute
	for _, r := range list {
		if !strings.HasPrefix(r.Path, "/api/v1/") || r.Method == "HEAD" || r.Method == "USE" {
			continue
		}
		if r.Path == "/api/v1/login" && r.Method == "POST" {
			continue
		}
		path := r.Path
		for _, p := range r.Params {
			path = strings.Replace(path, ":"+p, param, 1)
		}
		out = append(out, apiRoute{r.Method, r.Path, strings.ReplaceAll(path, "*", "x")})
	}
	return out
}

// status makes a request with a JSON body "{}" and the given cookie header.
func status(t *testing.T, method, u, cookie string) int {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestEveryAPIRouteNeedsAuth walks every route the wired hub registers under
// /api/v1 and checks that, without credentials, each one answers 401 —
// except login, the one public route.
func TestEveryAPIRouteNeedsAuth(t *testing.T) {
	t.Parallel()
	addr, _, list := wiredHub(t)
	checked := 0
	for _, r := range apiRoutes(list, "1") {
		if got := status(t, r.method, "http://"+addr+r.path, ""); got != 401 {
			t.Errorf("%s %s without credentials = %d, want 401", r.method, r.pattern, got)
		}
		checked++
	}
	if checked < 5 {
		t.Fatalf("only %d API routes found", checked)
	}
	t.Logf("%d API routes checked", checked)
}

// TestMeetingPassOpensOnlyItsMeeting: a guest's meeting pass (from their
// invite link) opens the invitee routes of that one meeting. Every /api/v1
// route of another meeting, and every route outside the meeting's
// invitee routes, answers 401 to it as to no credentials at all.
func TestMeetingPassOpensOnlyItsMeeting(t *testing.T) {
	t.Parallel()
	addr, dbURL, list := wiredHub(t)
	base := "http://" + addr
	token := apiToken(t, dbURL, "routes", hub.RoleAdmin)
	call := func(path string, body, out any) { apiCall(t, base, token, "POST", path, body, 201, out) }
	var own, other meetings.Meeting
	start := time.Now().Add(24 * time.Hour)
	call("/api/v1/meetings", map[string]any{"unit": "03244", "title": "Họp khác", "starts_at": start, "seats": 3}, &other)
	call("/api/v1/meetings", map[string]any{"unit": "03244", "title": "Họp của khách", "starts_at": start, "seats": 3}, &own)
	var link struct {
		InviteURL string `json:"invite_url"`
	}
	call(fmt.Sprintf("/api/v1/meetings/%d/invitees", own.ID), map[string]any{"name": "Giàng A Chu", "role": "guest"}, &link)

	req, _ := http.NewRequest("POST", base+link.InviteURL, nil)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var pass string
	for _, c := range resp.Cookies() {
		if c.Name == meetings.PassCookie(own.ID) {
			pass = c.Name + "=" + c.Value
		}
	}
	if resp.StatusCode != http.StatusSeeOther || pass == "" {
		t.Fatalf("redeeming the link: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	if got := status(t, "GET", fmt.Sprintf("%s/api/v1/meetings/%d", base, own.ID), pass); got != 200 {
		t.Fatalf("the pass does not open its own meeting: %d", got)
	}

	// The routes an invitee of the meeting uses (records_http.go).
	invitee := []string{
		"GET /api/v1/meetings/:id", "GET /api/v1/meetings/:id/documents", "POST /api/v1/meetings/:id/documents",
		"POST /api/v1/meetings/:id/documents/:doc/versions", "GET /api/v1/meetings/:id/documents/:doc/content",
		"GET /api/v1/meetings/:id/documents/:doc/versions/:v/content", "GET /api/v1/meetings/:id/proceedings",
		"POST /api/v1/meetings/:id/proceedings", "GET /api/v1/meetings/:id/events", "GET /api/v1/meetings/:id/votes",
		"GET /api/v1/meetings/:id/minutes", "GET /api/v1/meetings/:id/minutes.pdf", "GET /api/v1/meetings/:id/minutes/draft", "PUT /api/v1/meetings/:id/minutes/draft",
		"POST /api/v1/meetings/:id/minutes/approve", "GET /api/v1/meetings/:id/minutes/verify",
	}
	checked := 0
	for _, id := range []int64{other.ID, own.ID} {
		for _, r := range apiRoutes(list, fmt.Sprint(id)) {
			got := status(t, r.method, base+r.path, pass)
			if id == own.ID && slices.Contains(invitee, r.method+" "+r.pattern) {
				if got == 401 || got >= 500 {
					t.Errorf("%s %s of its own meeting with the pass = %d", r.method, r.pattern, got)
				}
				continue
			}
			if got != 401 {
				t.Errorf("%s %s (meeting %d) with a pass for meeting %d = %d, want 401", r.method, r.pattern, id, own.ID, got)
			}
			checked++
		}
	}
	t.Logf("%d routes refuse the pass", checked)
}

// The hub's own announcements of ended access (meeting/{id}/access) and a
// meeting's log are guarded on /ws as main wires them: the log as the REST
// API decides (staff yes, a viewer who is not an invitee no), the
// announcements for admins only.
func TestMeetingTopicsGuardedOnEventSocket(t *testing.T) {
	t.Parallel()
	addr, dbURL, _ := wiredHub(t)
	officer := apiToken(t, dbURL, "officer", hub.RoleOfficer)
	viewer := apiToken(t, dbURL, "viewer", hub.RoleViewer)
	admin := apiToken(t, dbURL, "admin", hub.RoleAdmin)
	var m meetings.Meeting
	apiCall(t, "http://"+addr, admin, "POST", "/api/v1/meetings",
		map[string]any{"unit": "03244", "title": "Họp giao ban", "starts_at": time.Now().Add(time.Hour), "seats": 3}, 201, &m)
	dial := func(topic, token string) int {
		c, resp, _ := websocket.DefaultDialer.Dial("ws://"+addr+"/ws?topic="+topic+"&access_token="+token, nil)
		if c != nil {
			c.Close()
		}
		if resp == nil {
			t.Fatalf("%s: no response", topic)
		}
		return resp.StatusCode
	}
	access, log := meetings.AccessTopic(m.ID), meetings.LogTopic(m.ID)
	for _, c := range []struct {
		topic, who, token string
		want              int
	}{
		{access, "officer", officer, http.StatusForbidden},
		{access, "viewer", viewer, http.StatusForbidden},
		{access, "admin", admin, http.StatusSwitchingProtocols},
		{log, "officer", officer, http.StatusSwitchingProtocols},
		{log, "viewer", viewer, http.StatusForbidden},
		{log, "admin", admin, http.StatusSwitchingProtocols},
	} {
		if got := dial(c.topic, c.token); got != c.want {
			t.Errorf("%s on %s: %d, want %d", c.who, c.topic, got, c.want)
		}
	}
}

// A viewer invited to a meeting follows its log on /ws; removed from the
// meeting, their open socket is closed with 4403 (main wires the guards to
// the hub's access announcements), and a new one is refused. (An officer
// would keep it: staff see every meeting, on REST as on /ws.)
func TestRemovedInviteeLosesTheMeetingLog(t *testing.T) {
	t.Parallel()
	addr, dbURL, _ := wiredHub(t)
	base := "http://" + addr
	admin := apiToken(t, dbURL, "admin", hub.RoleAdmin)
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	auth := hub.NewAuth(pool, hub.AuthConfig{}, nil)
	uid, err := auth.CreateUser(context.Background(), "can-bo-lan", hub.RoleViewer, "mat-khau-dai-du-12")
	if err != nil {
		t.Fatal(err)
	}
	session, _, err := auth.Login(context.Background(), "can-bo-lan", "mat-khau-dai-du-12")
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path string, body any, want int, out any) {
		apiCall(t, base, admin, method, path, body, want, out)
	}
	var m meetings.Meeting
	call("POST", "/api/v1/meetings", map[string]any{"unit": "03244", "title": "Họp giao ban", "starts_at": time.Now().Add(time.Hour), "seats": 3}, 201, &m)
	var invited struct{ Invitee meetings.Invitee }
	call("POST", fmt.Sprintf("/api/v1/meetings/%d/invitees", m.ID), map[string]any{"user_id": uid, "name": "Lò Thị Lan", "role": "member"}, 201, &invited)
	inv := invited.Invitee

	topic := fmt.Sprintf("meeting/%d/log", m.ID)
	hdr := http.Header{"Cookie": {hub.SessionCookie + "=" + session}}
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws?topic="+topic, hdr)
	if err != nil {
		t.Fatalf("invitee following the log: %v", err)
	}
	defer c.Close()
	call("DELETE", fmt.Sprintf("/api/v1/meetings/%d/invitees/%d", m.ID, inv.ID), nil, 204, nil)
	var ce *websocket.CloseError
	for {
		_ = c.SetReadDeadline(time.Now().Add(hubtest.Timeout(10 * time.Second)))
		_, _, err := c.ReadMessage() // the removal itself may be logged first
		if errors.As(err, &ce) {
			break
		}
		if err != nil {
			t.Fatalf("after the removal: %v, want close 4403", err)
		}
	}
	if ce.Code != hub.CloseForbidden {
		t.Errorf("closed with %d %q, want 4403", ce.Code, ce.Text)
	}
	_, resp, _ := websocket.DefaultDialer.Dial("ws://"+addr+"/ws?topic="+topic, hdr)
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("removed invitee dialling again: %v, want 403", resp)
	}
}

// apiCall makes a JSON API request with a bearer token and fails the test
// unless the status is want (any 2xx when want is 0); the JSON response
// goes into out when out is not nil.
func apiCall(t *testing.T, base, token, method, path string, body any, want int, out any) {
	t.Helper()
	apiCallVia(t, http.DefaultClient, base, token, method, path, body, want, out)
}

// apiCallVia is apiCall through client (an https hub's trusting client).
func apiCallVia(t *testing.T, client *http.Client, base, token, method, path string, body any, want int, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, base+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if want == 0 && resp.StatusCode >= 300 || want != 0 && resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
}

// apiToken creates a bearer token with role in the hub's database.
func apiToken(t *testing.T, dbURL, name string, role hub.Role) string {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	_, token, err := hub.NewAuth(pool, hub.AuthConfig{}, nil).CreateToken(context.Background(), name, role, "")
	if err != nil {
		t.Fatal(err)
	}
	return token
}
