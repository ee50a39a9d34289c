package devices

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

type apiHarness struct {
	*testHub
	app    *fiber.App
	tokens map[hub.Role]string
}

func newAPIHarness(t *testing.T, cfg Config) *apiHarness {
	pool := seededDB(t)
	h := startTestHub(t, pool, cfg)
	metrics := hub.NewMetrics()
	auth := hub.NewAuth(pool, hub.AuthConfig{}, nil)
	core := &hub.Core{Pool: pool, Bus: h.bus, Auth: auth, Units: hub.NewUnits(pool), Metrics: metrics,
		Sockets: hub.NewSockets(), Ready: hub.NewReadiness(), Logger: testLogger(t)}
	app := hub.NewApp(hub.AppOptions{})
	api := core.Mount(app)
	h.svc.Mount(core.Routes(app, api))
	a := &apiHarness{testHub: h, app: app, tokens: map[hub.Role]string{}}
	for _, r := range []hub.Role{hub.RoleAdmin, hub.RoleOfficer, hub.RoleTechnician, hub.RoleViewer} {
		_, tok, err := auth.CreateToken(context.Background(), string(r), r, "")
		if err != nil {
			t.Fatal(err)
		}
		a.tokens[r] = tok
	}
	return a
}

// serve serves the harness's app on a free loopback port until the test
// ends, and returns its address.
func (a *apiHarness) serve(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = a.app.Listener(ln) }()
	t.Cleanup(func() { _ = a.app.Shutdown() })
	return ln.Addr().String()
}

// addTechnician creates the user the page tests log in as: tech, whose
// password is kythuat-123.
func (a *apiHarness) addTechnician(t *testing.T) {
	t.Helper()
	if _, err := hub.NewAuth(a.pool, hub.AuthConfig{}, nil).CreateUser(context.Background(), "tech", hub.RoleTechnician, "kythuat-123"); err != nil {
		t.Fatal(err)
	}
}

func (a *apiHarness) do(t *testing.T, role hub.Role, method, path, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+a.tokens[role])
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.app.Test(req, 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func TestAPIRolesAndBadInput(t *testing.T) {
	t.Parallel()
	a := newAPIHarness(t, Config{AllowAnonymous: true})
	c, err := mqttClient(t, a.broker, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := publish(t, c, "communehub/03244/router-1/telemetry", `{"metrics":{"latency_ms":3}}`); err != nil {
		t.Fatal(err)
	}
	hubtest.WaitFor(t, 2*time.Second, func() bool { _, ok := a.svc.st.get("03244", "router-1"); return ok }, "device known")

	// Everyone authenticated reads; technicians and admins write.
	reads := []string{"/api/v1/devices?unit=03244", "/api/v1/devices/03244/router-1", "/api/v1/incidents?unit=03244",
		"/api/v1/alarms?unit=03244", "/api/v1/alarm-rules", "/api/v1/maintenance", "/api/v1/ingest",
		"/api/v1/devices/03244/router-1/telemetry?metric=latency_ms"}
	for _, p := range reads {
		if code, _ := a.do(t, "", "GET", p, ""); code != 401 {
			t.Errorf("GET %s anonymous = %d", p, code)
		}
		for _, r := range []hub.Role{hub.RoleViewer, hub.RoleOfficer, hub.RoleTechnician, hub.RoleAdmin} {
			if code, body := a.do(t, r, "GET", p, ""); code != 200 {
				t.Errorf("GET %s as %s = %d %v", p, r, code, body)
			}
		}
	}
	writes := []struct{ method, path, body string }{
		{"POST", "/api/v1/devices/03244/router-1/adopt", `{"name":"Router","kind":"router"}`},
		{"POST", "/api/v1/alarm-rules", `{"metric":"latency_ms","op":">","threshold":500,"clear_threshold":400,"for_s":0,"severity":"major"}`},
		{"POST", "/api/v1/maintenance", `{"unit":"03244","starts_at":"2030-01-01T00:00:00Z","ends_at":"2030-01-01T02:00:00Z","reason":"thay switch"}`},
		{"POST", "/api/v1/device-credentials", `{"unit":"03244","device":"cam-1"}`},
		{"GET", "/api/v1/device-credentials?unit=03244", ""},
	}
	for _, w := range writes {
		for _, r := range []hub.Role{hub.RoleViewer, hub.RoleOfficer} {
			if code, _ := a.do(t, r, w.method, w.path, w.body); code != 403 {
				t.Errorf("%s %s as %s = %d", w.method, w.path, r, code)
			}
		}
		if code, body := a.do(t, hub.RoleTechnician, w.method, w.path, w.body); code/100 != 2 {
			t.Errorf("%s %s as technician = %d %v", w.method, w.path, code, body)
		}
	}
	bad := []struct{ method, path, body, field string }{
		{"GET", "/api/v1/devices?unit=3244", "", "unit"},
		{"GET", "/api/v1/devices/03244/router-1/telemetry", "", "metric"},
		{"GET", "/api/v1/devices/03244/router-1/telemetry?metric=latency_ms&from=yesterday", "", "from"},
		{"GET", "/api/v1/devices/03244/router-1/telemetry?metric=latency_ms&step=1ms", "", "step"},
		{"GET", "/api/v1/devices/03244/router-1/telemetry?metric=latency_ms&from=-720h&step=1s", "", "step"},
		{"GET", "/api/v1/alarms?state=maybe", "", "state"},
		{"POST", "/api/v1/devices/03244/router-1/adopt", `{"kind":"toaster"}`, "kind"},
		{"POST", "/api/v1/devices/03244/router-1/adopt", `{"name":5}`, "name"},
		{"POST", "/api/v1/alarms/0123456789abcdef/ack", `{"comment":1}`, "comment"},
		{"POST", "/api/v1/alarms/xyz/ack", `{}`, "id"},
		{"POST", "/api/v1/alarm-rules", `{"metric":"latency_ms","op":">","threshold":100,"clear_threshold":120,"severity":"major"}`, "clear_threshold"},
		{"POST", "/api/v1/alarm-rules", `{"metric":"latency_ms","op":"=","threshold":100,"clear_threshold":80,"severity":"major"}`, "op"},
		{"POST", "/api/v1/maintenance", `{"unit":"03244","starts_at":"2030-01-01T02:00:00Z","ends_at":"2030-01-01T00:00:00Z"}`, "ends_at"},
		{"POST", "/api/v1/device-credentials", `{"unit":"3244"}`, "unit"},
		{"POST", "/api/v1/device-credentials", `{"unit":"03244","device":"a/b"}`, "device"},
		{"DELETE", "/api/v1/device-credentials/x", "", "id"},
	}
	for _, b := range bad {
		code, body := a.do(t, hub.RoleAdmin, b.method, b.path, b.body)
		e, _ := body["error"].(map[string]any)
		if code != 400 || e == nil || e["field"] != b.field {
			t.Errorf("%s %s %s = %d %v, want 400 naming %s", b.method, b.path, b.body, code, body, b.field)
		}
	}
	if code, _ := a.do(t, hub.RoleAdmin, "GET", "/api/v1/devices/03244/nope", ""); code != 404 {
		t.Errorf("unknown device = %d", code)
	}
	if code, _ := a.do(t, hub.RoleAdmin, "POST", "/api/v1/alarms/0123456789abcdef/ack", `{"comment":"x"}`); code != 404 {
		t.Errorf("unknown alarm ack = %d", code)
	}
	// A login made through the API works at once on the embedded broker, and stops working when revoked.
	code, body := a.do(t, hub.RoleTechnician, "POST", "/api/v1/device-credentials", `{"unit":"03244","device":"ups-1"}`)
	cred, _ := body["credential"].(map[string]any)
	if code != 201 || cred == nil || body["password"] == "" {
		t.Fatalf("create credential = %d %v", code, body)
	}
	if _, err := mqttClient(t, a.broker, cred["username"].(string), body["password"].(string)); err != nil {
		t.Fatalf("new credential refused: %v", err)
	}
	if code, _ := a.do(t, hub.RoleAdmin, "DELETE", fmt.Sprintf("/api/v1/device-credentials/%.0f", cred["id"]), ""); code != 204 {
		t.Fatalf("revoke = %d", code)
	}
	if _, err := mqttClient(t, a.broker, cred["username"].(string), body["password"].(string)); err == nil {
		t.Fatal("revoked credential accepted")
	}
}

// An alarm raised by telemetry is listed, acknowledged with who, when and
// a comment (once), and the wall's snapshot shows it acknowledged.
func TestAlarmAckLifecycle(t *testing.T) {
	t.Parallel()
	a := newAPIHarness(t, Config{AllowAnonymous: true})
	if code, body := a.do(t, hub.RoleAdmin, "POST", "/api/v1/alarm-rules",
		`{"unit":"03244","device":"router-1","metric":"latency_ms","op":">","threshold":200,"clear_threshold":100,"for_s":0,"severity":"critical"}`); code != 201 {
		t.Fatalf("rule: %d %v", code, body)
	}
	c, err := mqttClient(t, a.broker, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := publish(t, c, "communehub/03244/router-1/telemetry", `{"metrics":{"latency_ms":350}}`); err != nil {
		t.Fatal(err)
	}
	var id string
	hubtest.WaitFor(t, 3*time.Second, func() bool {
		_, body := a.do(t, hub.RoleViewer, "GET", "/api/v1/alarms?unit=03244", "")
		list, _ := body["alarms"].([]any)
		if len(list) != 1 {
			return false
		}
		al := list[0].(map[string]any)
		id, _ = al["id"].(string)
		return al["state"] == AlarmActiveUnack && al["severity"] == "critical"
	}, "the alarm stored as active_unack")
	code, body := a.do(t, hub.RoleTechnician, "POST", "/api/v1/alarms/"+id+"/ack", `{"comment":"đã báo nhà mạng"}`)
	if code != 200 || body["state"] != AlarmActiveAck || body["acked_by"] != "technician" || body["ack_comment"] != "đã báo nhà mạng" || body["acked_at"] == nil {
		t.Fatalf("ack = %d %v", code, body)
	}
	if code, _ := a.do(t, hub.RoleTechnician, "POST", "/api/v1/alarms/"+id+"/ack", `{"comment":"again"}`); code != 409 {
		t.Fatalf("second ack = %d", code)
	}
	snap := a.svc.st.snapshot("03244", time.Now())
	if len(snap.Alarms) != 1 || snap.Alarms[0].State != AlarmActiveAck {
		t.Fatalf("snapshot alarms %+v", snap.Alarms)
	}
	// Clearing keeps the acknowledgement.
	if err := publish(t, c, "communehub/03244/router-1/telemetry", `{"metrics":{"latency_ms":20}}`); err != nil {
		t.Fatal(err)
	}
	hubtest.WaitFor(t, 3*time.Second, func() bool {
		_, body := a.do(t, hub.RoleViewer, "GET", "/api/v1/alarms?unit=03244&state=cleared", "")
		list, _ := body["alarms"].([]any)
		return len(list) == 1 && list[0].(map[string]any)["acked_by"] == "technician"
	}, "the cleared alarm keeps its acknowledgement")
}

func TestTelemetrySeriesAndRollups(t *testing.T) {
	t.Parallel()
	a := newAPIHarness(t, Config{AllowAnonymous: true})
	c, err := mqttClient(t, a.broker, "", "")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Hour)
	for i := 0; i < 120; i++ { // one reading a minute for two hours: 1..120
		p := fmt.Sprintf(`{"ts":%d,"metrics":{"latency_ms":%d}}`, base.Add(time.Duration(i)*time.Minute).UnixMilli(), i+1)
		if err := publish(t, c, "communehub/03244/router-1/telemetry", p); err != nil {
			t.Fatal(err)
		}
	}
	hubtest.WaitFor(t, 3*time.Second, func() bool { return a.count(t, "device='router-1'") == 120 }, "120 rows")
	from := base.Format(time.RFC3339)
	to := base.Add(2 * time.Hour).Format(time.RFC3339)
	code, body := a.do(t, hub.RoleViewer, "GET", "/api/v1/devices/03244/router-1/telemetry?metric=latency_ms&from="+from+"&to="+to+"&step=30m", "")
	pts, _ := body["points"].([]any)
	if code != 200 || body["source"] != "raw" || len(pts) != 4 {
		t.Fatalf("raw series = %d %v", code, body)
	}
	if p0 := pts[0].(map[string]any); p0["avg"] != 15.5 || p0["min"] != 1.0 || p0["max"] != 30.0 || p0["n"] != 30.0 {
		t.Fatalf("first point %v", p0)
	}
	if err := upkeep(context.Background(), a.pool, time.Now(), 90*24*time.Hour, 2*365*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	code, body = a.do(t, hub.RoleViewer, "GET", "/api/v1/devices/03244/router-1/telemetry?metric=latency_ms&from="+from+"&to="+to+"&step=1h", "")
	pts, _ = body["points"].([]any)
	if code != 200 || body["source"] != "hourly" || len(pts) != 2 {
		t.Fatalf("hourly series = %d %v", code, body)
	}
	if p1 := pts[1].(map[string]any); p1["avg"] != 90.5 || p1["min"] != 61.0 || p1["max"] != 120.0 {
		t.Fatalf("second hour %v", p1)
	}
	// Retention drops whole months: pretend it is a year later.
	if err := retention(context.Background(), a.pool, time.Now().AddDate(1, 0, 0), 90*24*time.Hour, 2*365*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := a.count(t, "true"); n != 0 {
		t.Fatalf("%d raw rows survived retention", n)
	}
	var hourly int
	if err := a.pool.QueryRow(context.Background(), `SELECT count(*) FROM telemetry_hourly`).Scan(&hourly); err != nil || hourly != 2 {
		t.Fatalf("hourly rows %d (%v): should outlive raw data", hourly, err)
	}
}

// An incident is listed while open, and kept with its end in the history.
func TestIncidentHistory(t *testing.T) {
	t.Parallel()
	a := newAPIHarness(t, Config{AllowAnonymous: true})
	c, err := mqttClient(t, a.broker, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range [][2]string{
		{"communehub/03244/router/meta", `{"name":"Router","kind":"router"}`},
		{"communehub/03244/pc-1/meta", `{"name":"PC 1","kind":"pc","parent":"router"}`},
		{"communehub/03244/router/status", "online"}, {"communehub/03244/pc-1/status", "online"},
		{"communehub/03244/router/status", "offline"}, {"communehub/03244/pc-1/status", "offline"},
	} {
		if err := publish(t, c, m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	list := func(state string) []any {
		_, body := a.do(t, hub.RoleViewer, "GET", "/api/v1/incidents?unit=03244&state="+state, "")
		l, _ := body["incidents"].([]any)
		return l
	}
	hubtest.WaitFor(t, 3*time.Second, func() bool {
		l := list("open")
		return len(l) == 1 && l[0].(map[string]any)["kind"] == IncidentParentDown && l[0].(map[string]any)["affected"] == 1.0
	}, "one open parent_down incident")
	if err := publish(t, c, "communehub/03244/router/status", "online"); err != nil {
		t.Fatal(err)
	}
	if err := publish(t, c, "communehub/03244/pc-1/status", "online"); err != nil {
		t.Fatal(err)
	}
	// (For a moment after the router's return pc-1 is down on its own: a
	// second, short incident. The history keeps both.)
	hubtest.WaitFor(t, 3*time.Second, func() bool {
		if len(list("open")) != 0 {
			return false
		}
		for _, x := range list("all") {
			inc := x.(map[string]any)
			if inc["root_device"] == "router" && inc["closed_at"] != nil &&
				strings.Contains(inc["title"].(string), "Router mất kết nối — 1 thiết bị") {
				return true
			}
		}
		return false
	}, "the router incident closed in the history")
}
