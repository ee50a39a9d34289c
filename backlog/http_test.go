package backlog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
	"github.com/gofiber/fiber/v2"
)

// testHub is the kernel plus the backlog on a fresh database, with one
// token per role.
type testHub struct {
	s      *Service
	app    *fiber.App
	bus    *hub.Bus
	auth   *hub.Auth
	tokens map[hub.Role]string
}

func newTestHub(t *testing.T, clock *testClock) *testHub {
	t.Helper()
	s, pool := newTestService(t, clock)
	log := slog.New(slog.DiscardHandler)
	m := hub.NewMetrics()
	// Strict: publishing a topic backlog does not declare fails.
	topics := hub.NewTopics(nil)
	if err := DeclareTopics(topics); err != nil {
		t.Fatal(err)
	}
	bus := hub.NewBus(hub.BusOptions{Metrics: m, Topics: topics, Strict: true})
	auth := hub.NewAuth(pool, hub.AuthConfig{}, log)
	core := &hub.Core{Pool: pool, Bus: bus, Topics: topics, Auth: auth, Units: hub.NewUnits(pool), Metrics: m,
		Sockets: hub.NewSockets(), Ready: hub.NewReadiness(), Logger: log}
	app := hub.NewApp(hub.AppOptions{Logger: log, Metrics: m})
	api := core.Mount(app)
	s.Mount(core.Routes(app, api))
	h := &testHub{s: s, app: app, bus: bus, auth: auth, tokens: map[hub.Role]string{}}
	for _, r := range []hub.Role{hub.RoleAdmin, hub.RoleOfficer, hub.RoleTechnician, hub.RoleViewer} {
		_, tok, err := auth.CreateToken(context.Background(), "t-"+string(r), r, "")
		if err != nil {
			t.Fatal(err)
		}
		h.tokens[r] = tok
	}
	return h
}

// do sends a request as role ("" for none) and decodes the JSON answer.
func (h *testHub) do(t *testing.T, role hub.Role, method, path string, body []byte, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+h.tokens[role])
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: bad JSON %q", method, path, raw)
		}
	}
	return resp.StatusCode, out
}

func jsonBody(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func errField(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	f, _ := e["field"].(string)
	return f
}

func errMessage(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	f, _ := e["message"].(string)
	return f
}

var procBody = map[string]any{"name": "Đăng ký khai sinh", "online_level": "full", "has_fee": false,
	"requires_paper_result": true, "deadline": map[string]any{"value": 3, "unit": "working_day"}}

func TestRoleTable(t *testing.T) {
	h := newTestHub(t, newClock(vnt(2026, 3, 16, 10, 0)))
	dossier := jsonBody(t, map[string]any{"MaTTHC": "1.001193", "MaDVHC": "03244", "TrangThaiHoSo": 2, "NgayTiepNhan": "20260316080000"})
	if code, m := h.do(t, hub.RoleOfficer, "PUT", "/api/v1/procedures/1.001193", jsonBody(t, procBody), nil); code != 201 {
		t.Fatalf("officer PUT procedure: %d %v", code, m)
	}
	cases := []struct {
		role         hub.Role
		method, path string
		body         []byte
		want         int
	}{
		{"", "GET", "/api/v1/kpis?unit=03244", nil, 401},
		{hub.RoleViewer, "GET", "/api/v1/kpis?unit=03244", nil, 200},
		{hub.RoleTechnician, "GET", "/api/v1/kpis?unit=11", nil, 200},
		{hub.RoleViewer, "GET", "/api/v1/dossiers?unit=03244", nil, 200},
		{hub.RoleViewer, "PUT", "/api/v1/dossiers/X1", dossier, 403},
		{hub.RoleTechnician, "PUT", "/api/v1/dossiers/X1", dossier, 403},
		{"", "PUT", "/api/v1/dossiers/X1", dossier, 401},
		{hub.RoleOfficer, "PUT", "/api/v1/dossiers/X1", dossier, 201},
		{hub.RoleAdmin, "PUT", "/api/v1/dossiers/X2", dossier, 201},
		{hub.RoleViewer, "PUT", "/api/v1/procedures/1.000001", jsonBody(t, procBody), 403},
		{hub.RoleViewer, "POST", "/api/v1/dossiers/import", []byte("{}"), 403},
		{hub.RoleViewer, "POST", "/api/v1/documents/incoming", []byte("{}"), 403},
		{hub.RoleTechnician, "PATCH", "/api/v1/documents/incoming/1", []byte("{}"), 403},
		{hub.RoleViewer, "POST", "/api/v1/documents/outgoing", []byte("{}"), 403},
		{hub.RoleViewer, "PUT", "/api/v1/holidays/2026-12-31", []byte(`{"name":"x"}`), 403},
		{hub.RoleViewer, "GET", "/api/v1/holidays?year=2026", nil, 200},
		{hub.RoleViewer, "GET", "/api/v1/documents/incoming?unit=03244", nil, 200},
		{hub.RoleViewer, "GET", "/api/v1/backlog?unit=03244", nil, 200},
	}
	for _, tc := range cases {
		if code, m := h.do(t, tc.role, tc.method, tc.path, tc.body, nil); code != tc.want {
			t.Errorf("%s %s %s: %d, want %d (%v)", tc.role, tc.method, tc.path, code, tc.want, m)
		}
	}
	// The page redirects a browser without a session to the login page.
	resp, err := h.app.Test(httptest.NewRequest("GET", "/backlog", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
		t.Errorf("GET /backlog without a session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestWebhookSignature(t *testing.T) {
	h := newTestHub(t, newClock(vnt(2026, 3, 16, 10, 0)))
	putProc(t, h.s, "1.001193", false, false, 3)
	_, tok, err := h.auth.CreateToken(context.Background(), "one-stop", hub.RoleOfficer, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	body := jsonBody(t, map[string]any{"MaTTHC": "1.001193", "MaDVHC": "03244", "TrangThaiHoSo": 2, "NgayTiepNhan": "20260316080000"})
	// The hub's clock, not the test clock of the backlog: signatures are
	// checked against the time the request is sent.
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sign := func(b []byte, key string) string {
		return hub.SignRequest(key, "PUT", "/api/v1/dossiers/SIG-1", "", ts, b)
	}
	put := func(sig string) (int, map[string]any) {
		req := httptest.NewRequest("PUT", "/api/v1/dossiers/SIG-1", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		if sig != "" {
			req.Header.Set("X-Signature", sig)
			req.Header.Set("X-Timestamp", ts)
		}
		resp, err := h.app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, m := put(""); code != 401 || errField(m) != "X-Signature" {
		t.Errorf("no signature: %d %v", code, m)
	}
	if code, _ := put(sign(body, "wrong")); code != 401 {
		t.Errorf("wrong key: %d", code)
	}
	if code, _ := put(sign(append(body, ' '), "s3cret")); code != 401 {
		t.Errorf("signature of another body: %d", code)
	}
	if _, err := h.s.Dossier(context.Background(), "SIG-1"); hub.ErrorCode(err) != hub.ENotFound {
		t.Fatalf("a refused request stored the dossier: %v", err)
	}
	if code, m := put(sign(body, "s3cret")); code != 201 {
		t.Errorf("signed: %d %v", code, m)
	}
}

func TestBadDossierInput(t *testing.T) {
	h := newTestHub(t, newClock(vnt(2026, 3, 16, 10, 0)))
	putProc(t, h.s, "1.001193", false, false, 3)
	good := map[string]any{"MaTTHC": "1.001193", "MaDVHC": "03244", "TrangThaiHoSo": 4, "NgayTiepNhan": "20260310080000", "NgayHenTra": "20260313080000"}
	if code, m := h.do(t, hub.RoleOfficer, "PUT", "/api/v1/dossiers/BAD-1", jsonBody(t, good), nil); code != 201 {
		t.Fatalf("good: %d %v", code, m)
	}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range good {
			m[a] = b
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name  string
		body  []byte
		code  int
		field string
	}{
		{"unknown procedure", jsonBody(t, with("MaTTHC", "9.999999")), 422, "MaTTHC"},
		{"unknown commune", jsonBody(t, with("MaDVHC", "99999")), 422, "MaDVHC"},
		{"not a commune code", jsonBody(t, with("MaDVHC", "11")), 400, "MaDVHC"},
		{"due before received", jsonBody(t, with("NgayHenTra", "20260309080000")), 422, "NgayHenTra"},
		{"unknown status", jsonBody(t, with("TrangThaiHoSo", 11)), 400, "TrangThaiHoSo"},
		{"status not a number", jsonBody(t, with("TrangThaiHoSo", "bốn")), 400, "TrangThaiHoSo"},
		{"ISO time", jsonBody(t, with("NgayTiepNhan", "2026-03-10T08:00:00")), 400, "NgayTiepNhan"},
		{"impossible date", jsonBody(t, with("NgayHenTra", "20260231080000")), 400, "NgayHenTra"},
		{"time as number", jsonBody(t, with("NgayHenTra", 20260313080000)), 400, "NgayHenTra"},
		{"unknown field", jsonBody(t, with("NgayHenTr", "20260313080000")), 400, "NgayHenTr"},
		{"illegal transition 4→1", jsonBody(t, with("TrangThaiHoSo", 1)), 409, "TrangThaiHoSo"},
		{"code mismatch", jsonBody(t, with("MaHoSo", "OTHER")), 400, "MaHoSo"},
		{"missing received", jsonBody(t, with("NgayTiepNhan", nil)), 400, "NgayTiepNhan"},
		{"bad fee", jsonBody(t, with("DanhSachLePhi", []map[string]any{{"Gia": "abc"}})), 400, "DanhSachLePhi[0].Gia"},
		{"malformed JSON", []byte(`{"MaTTHC": `), 400, "body"},
		{"array for scalar", jsonBody(t, with("ChuHoSo", []string{"a"})), 400, "ChuHoSo"},
	}
	before, _ := h.s.Dossier(context.Background(), "BAD-1")
	var outbox int
	_ = h.s.pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox`).Scan(&outbox)
	for _, tc := range cases {
		code, m := h.do(t, hub.RoleOfficer, "PUT", "/api/v1/dossiers/BAD-1", tc.body, nil)
		if code != tc.code || errField(m) != tc.field {
			t.Errorf("%s: %d field %q (%s), want %d field %q", tc.name, code, errField(m), errMessage(m), tc.code, tc.field)
		}
	}
	after, _ := h.s.Dossier(context.Background(), "BAD-1")
	if !bytes.Equal(before.Fingerprint, after.Fingerprint) || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Error("a refused body changed the stored dossier")
	}
	var outbox2 int
	_ = h.s.pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox`).Scan(&outbox2)
	if outbox2 != outbox {
		t.Errorf("refused bodies published %d events", outbox2-outbox)
	}
	// The 409 says which transitions are allowed.
	_, m := h.do(t, hub.RoleOfficer, "PUT", "/api/v1/dossiers/BAD-1", jsonBody(t, with("TrangThaiHoSo", 1)), nil)
	if msg := errMessage(m); !strings.Contains(msg, "allowed from 4: 5 (") || !strings.Contains(msg, "10 (Đã trả kết quả)") {
		t.Errorf("409 message does not list the allowed transitions: %q", msg)
	}
	if d := m["error"].(map[string]any)["details"].(map[string]any); fmt.Sprint(d["allowed"]) != "[5 6 7 8 9 10]" {
		t.Errorf("409 details: %v", d)
	}
}

func TestIdempotentUpsertPublishesOnce(t *testing.T) {
	h := newTestHub(t, newClock(vnt(2026, 3, 16, 10, 0)))
	putProc(t, h.s, "1.001193", false, false, 3)
	ctx := context.Background()
	count := func() (events, history int) {
		_ = h.s.pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE topic LIKE '%/03244/%' OR topic = 'province/11/kpi'`).Scan(&events)
		_ = h.s.pool.QueryRow(ctx, `SELECT count(*) FROM dossier_events`).Scan(&history)
		return
	}
	body := jsonBody(t, map[string]any{"MaTTHC": "1.001193", "MaDVHC": "03244", "TrangThaiHoSo": 4, "NgayTiepNhan": "20260310080000",
		"DanhSachLePhi": []map[string]any{{"Gia": 1000}}, "KenhThucHien": "2"})
	code, m := h.do(t, hub.RoleOfficer, "PUT", "/api/v1/dossiers/ID-1", body, nil)
	if code != 201 || m["changed"] != true {
		t.Fatalf("first: %d %v", code, m)
	}
	e1, h1 := count()
	if e1 != 3 || h1 != 1 {
		t.Fatalf("first upsert wrote %d events and %d history rows, want 3 and 1", e1, h1)
	}
	var topics []string
	rows, _ := h.s.pool.Query(ctx, `SELECT topic FROM outbox ORDER BY topic`)
	for rows.Next() {
		var tp string
		_ = rows.Scan(&tp)
		topics = append(topics, tp)
	}
	if fmt.Sprint(topics) != "[commune/03244/backlog commune/03244/kpi province/11/kpi]" {
		t.Errorf("topics %v", topics)
	}
	// Same body again, and the same content with keys reordered and numbers as strings.
	reordered := []byte(`{"KenhThucHien":2,"NgayTiepNhan":"20260310080000","TrangThaiHoSo":"4","MaDVHC":"03244","MaTTHC":"1.001193","DanhSachLePhi":[{"Gia":"1000"}]}`)
	for _, b := range [][]byte{body, reordered} {
		code, m = h.do(t, hub.RoleOfficer, "PUT", "/api/v1/dossiers/ID-1", b, nil)
		if code != 200 || m["changed"] != false {
			t.Fatalf("repeat: %d %v", code, m)
		}
	}
	if e2, h2 := count(); e2 != e1 || h2 != h1 {
		t.Errorf("a repeated body wrote %d events and %d history rows", e2-e1, h2-h1)
	}
	// A change publishes again and is recorded in the history.
	body2 := bytes.Replace(body, []byte(`"TrangThaiHoSo":4`), []byte(`"TrangThaiHoSo":5`), 1)
	if code, m = h.do(t, hub.RoleOfficer, "PUT", "/api/v1/dossiers/ID-1", body2, nil); code != 200 || m["changed"] != true {
		t.Fatalf("change: %d %v", code, m)
	}
	if e3, h3 := count(); e3 != e1+3 || h3 != 2 {
		t.Errorf("a change wrote %d events and %d history rows, want 3 and 1", e3-e1, h3-h1)
	}
	code, m = h.do(t, hub.RoleViewer, "GET", "/api/v1/dossiers/ID-1/history", nil, nil)
	hist := m["history"].([]any)
	if code != 200 || len(hist) != 2 || hist[1].(map[string]any)["kind"] != "status" {
		t.Fatalf("history: %d %v", code, m)
	}
	// The history is append-only in the database too.
	if _, err := h.s.pool.Exec(ctx, `UPDATE dossier_events SET actor='x'`); err == nil {
		t.Error("dossier_events accepted an UPDATE")
	}
	if _, err := h.s.pool.Exec(ctx, `DELETE FROM dossier_events`); err == nil {
		t.Error("dossier_events accepted a DELETE")
	}
}

// TestUpsertReachesBus follows the outbox like a running hub and checks
// that an upsert's snapshots arrive on the bus with the new numbers.
func TestUpsertReachesBus(t *testing.T) {
	h := newTestHub(t, nil)
	putProc(t, h.s, "1.001193", false, false, 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := hub.NewOutboxFollower(h.s.pool, h.bus, slog.New(slog.DiscardHandler), nil)
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	defer func() { cancel(); <-done }()
	sub, err := h.bus.Subscribe([]string{"commune/03244/kpi", "province/11/kpi", "commune/03244/backlog"}, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	now := time.Now()
	body := jsonBody(t, map[string]any{"MaTTHC": "1.001193", "MaDVHC": "03244", "TrangThaiHoSo": 2,
		"NgayTiepNhan": FormatPortalTime(now.Add(-time.Hour)), "NgayHenTra": FormatPortalTime(now.Add(-time.Minute))})
	start := time.Now()
	if code, m := h.do(t, hub.RoleOfficer, "PUT", "/api/v1/dossiers/BUS-1", body, nil); code != 201 {
		t.Fatalf("%d %v", code, m)
	}
	got := map[string]json.RawMessage{}
	deadline := time.After(hubtest.Timeout(5 * time.Second))
	for len(got) < 3 {
		select {
		case <-sub.Ready():
			for _, e := range sub.Drain() {
				got[e.Topic] = e.Data
			}
		case <-deadline:
			t.Fatalf("events after 5 s: %v", keys(got))
		}
	}
	t.Logf("upsert → 3 events on the bus in %v", time.Since(start))
	var k KPIs
	if err := json.Unmarshal(got["commune/03244/kpi"], &k); err != nil {
		t.Fatal(err)
	}
	if k.Dossiers.Received != 1 || k.Dossiers.OpenOverdue != 1 {
		t.Errorf("commune kpi event: %+v", k.Dossiers)
	}
	var pk KPIs
	_ = json.Unmarshal(got["province/11/kpi"], &pk)
	if pk.Level != "province" || pk.Dossiers.OpenOverdue != 1 || len(pk.Communes) != 45 {
		t.Errorf("province kpi event: level %s overdue %d communes %d", pk.Level, pk.Dossiers.OpenOverdue, len(pk.Communes))
	}
	var bl Backlog
	_ = json.Unmarshal(got["commune/03244/backlog"], &bl)
	if len(bl.Dossiers.Overdue) != 1 || bl.Dossiers.Overdue[0].Code != "BUS-1" || len(bl.Trend) != 30 {
		t.Errorf("backlog event: %+v", bl)
	}
}

// A pre-2025 commune code is filed under the commune it was merged into;
// a holiday edit republishes the communes with open dossiers.
func TestOldCommuneCodeAndHolidayRepublish(t *testing.T) {
	clock := newClock(vnt(2026, 3, 16, 10, 0))
	h := newTestHub(t, clock)
	putProc(t, h.s, "1.001193", false, false, 3)
	body := jsonBody(t, map[string]any{"MaTTHC": "1.001193", "MaDVHC": "03247", "TrangThaiHoSo": 4, // xã Mường Đun → Sáng Nhè
		"NgayTiepNhan": "20260316080000", "NgayHenTra": "20260318080000"})
	if code, m := h.do(t, hub.RoleOfficer, "PUT", "/api/v1/dossiers/OLD-1", body, nil); code != 201 {
		t.Fatalf("%d %v", code, m)
	}
	d, err := h.s.Dossier(context.Background(), "OLD-1")
	if err != nil || d.Unit != "03244" || d.SourceUnit != "03247" {
		t.Fatalf("stored under %s (sent %s), %v", d.Unit, d.SourceUnit, err)
	}
	// Due Wed 18 Mar 08:00 is "due soon" on Mon 16 Mar; with Tue 17 Mar a holiday it still is
	// (the window grows), and the holiday edit republishes Sáng Nhè's snapshots.
	var before int
	_ = h.s.pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE topic='commune/03244/kpi'`).Scan(&before)
	if code, m := h.do(t, hub.RoleOfficer, "PUT", "/api/v1/holidays/2026-03-17", []byte(`{"name":"Nghỉ bù"}`), nil); code != 200 {
		t.Fatalf("%d %v", code, m)
	}
	var after int
	_ = h.s.pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE topic='commune/03244/kpi'`).Scan(&after)
	if after != before+1 {
		t.Errorf("a holiday edit published %d kpi events for the commune, want 1", after-before)
	}
	if !h.s.cal.IsWorkingDay(vnt(2026, 3, 16, 0, 0)) || h.s.cal.IsWorkingDay(vnt(2026, 3, 17, 12, 0)) {
		t.Error("the calendar was not reloaded")
	}
	if code, _ := h.do(t, hub.RoleOfficer, "PUT", "/api/v1/holidays/2026-03-18", []byte(`{"name":"x","kind":"workday"}`), nil); code != 422 {
		t.Errorf("a weekday as a worked day: %d", code)
	}
	if code, _ := h.do(t, hub.RoleOfficer, "DELETE", "/api/v1/holidays/2026-03-17", nil, nil); code != 204 {
		t.Errorf("delete: %d", code)
	}
	if code, _ := h.do(t, hub.RoleOfficer, "DELETE", "/api/v1/holidays/2026-03-17", nil, nil); code != 404 {
		t.Errorf("delete twice: %d", code)
	}
}

// Invalid UTF-8 in a dossier or a document is refused with 400 naming the
// field, and nothing is stored (encoding/json alone would store U+FFFD).
func TestInvalidUTF8IsRefused(t *testing.T) {
	h := newTestHub(t, newClock(vnt(2026, 3, 16, 10, 0)))
	putProc(t, h.s, "1.001193", false, false, 3)
	ctx := context.Background()
	count := func(table string) (n int) {
		_ = h.s.pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n)
		return n
	}
	dossier := []byte(`{"MaTTHC":"1.001193","MaDVHC":"03244","TrangThaiHoSo":2,"NgayTiepNhan":"20260316080000","ChuHoSo":"L` + "\xf2" + ` V` + "\xe3" + `n A"}`)
	code, m := h.do(t, hub.RoleOfficer, "PUT", "/api/v1/dossiers/UTF-1", dossier, nil)
	if code != 400 || errField(m) != "ChuHoSo" {
		t.Errorf("dossier with invalid UTF-8: %d %v, want 400 naming ChuHoSo", code, m)
	}
	surrogate := []byte(`{"MaTTHC":"1.001193","MaDVHC":"03244","TrangThaiHoSo":2,"NgayTiepNhan":"20260316080000","ChuHoSo":"\udc00"}`)
	if code, m := h.do(t, hub.RoleOfficer, "PUT", "/api/v1/dossiers/UTF-2", surrogate, nil); code != 400 || errField(m) != "ChuHoSo" {
		t.Errorf("dossier with a lone surrogate: %d %v, want 400 naming ChuHoSo", code, m)
	}
	incoming := []byte(`{"unit":"03244","subject":"C` + "\xf4" + `ng v` + "\xe3" + `n","urgency":"thuong","secrecy":"thuong","medium":"paper"}`)
	if code, m := h.do(t, hub.RoleOfficer, "POST", "/api/v1/documents/incoming", incoming, nil); code != 400 || errField(m) != "subject" {
		t.Errorf("incoming document with invalid UTF-8: %d %v, want 400 naming subject", code, m)
	}
	if n := count("dossiers"); n != 0 {
		t.Errorf("%d dossiers stored", n)
	}
	if n := count("incoming_docs"); n != 0 {
		t.Errorf("%d incoming documents stored", n)
	}
	if n := count("outbox"); n != 0 {
		t.Errorf("%d events written", n)
	}
	// The same dossier in valid UTF-8 is taken.
	good := bytes.ReplaceAll(bytes.ReplaceAll(dossier, []byte("\xf2"), []byte("ò")), []byte("\xe3"), []byte("ă"))
	if code, m := h.do(t, hub.RoleOfficer, "PUT", "/api/v1/dossiers/UTF-1", good, nil); code != 201 {
		t.Errorf("valid dossier: %d %v", code, m)
	}
}
