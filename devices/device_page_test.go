package devices

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// seedChartData stores readings of latency_ms (10 + the minute of the
// hour) and loss_pct (0) for device every step over the last days, straight
// into telemetry, and rolls them up into hours as the hub's upkeep does.
func seedChartData(t testing.TB, pool *pgxpool.Pool, unit, device string, days int, step time.Duration, now time.Time) {
	t.Helper()
	ctx := context.Background()
	for m := now.AddDate(0, 0, -days-1); !m.After(now.AddDate(0, 1, 0)); m = m.AddDate(0, 1, 0) {
		if err := ensurePartition(ctx, pool, m); err != nil {
			t.Fatal(err)
		}
	}
	_, err := pool.Exec(ctx, `INSERT INTO telemetry(unit, device, ts, source, metrics)
		SELECT $1, $2, ts, 'native', jsonb_build_object('latency_ms', 10 + extract(minute FROM ts), 'loss_pct', 0)
		FROM generate_series($3::timestamptz, $4::timestamptz, $5::interval) ts
		ON CONFLICT DO NOTHING`, unit, device, now.AddDate(0, 0, -days), now, step.String())
	if err != nil {
		t.Fatal(err)
	}
	// From the first reading, whatever the hub's upkeep already rolled up.
	if _, err := pool.Exec(ctx, `DELETE FROM telemetry_rollup`); err != nil {
		t.Fatal(err)
	}
	if err := rollup(ctx, pool, now); err != nil {
		t.Fatal(err)
	}
}

// The chart API: every range is a bounded number of buckets (a 30-day
// chart of a 1-minute metric is 720 hourly buckets, not 43,200 points),
// each with min ≤ avg ≤ max, from the raw table for the short ranges and
// the rollups for the long ones; a bad range or metric is a 4xx naming it.
func TestDeviceChartBuckets(t *testing.T) {
	t.Parallel()
	a := newAPIHarness(t, Config{AllowAnonymous: true})
	c, err := mqttClient(t, a.broker, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := publish(t, c, "communehub/03244/router-1/telemetry", `{"metrics":{"latency_ms":3,"loss_pct":0}}`); err != nil {
		t.Fatal(err)
	}
	hubtest.WaitFor(t, 3*time.Second, func() bool { _, ok := a.svc.st.get("03244", "router-1"); return ok }, "device known")
	now := time.Now()
	seedChartData(t, a.pool, "03244", "router-1", 30, time.Minute, now)

	for _, tc := range []struct {
		rng, source string
		buckets     int
		minPoints   int
	}{
		{"1h", "raw", 360, 59},
		{"24h", "raw", 720, 719},
		{"7d", "hourly", 168, 167},
		{"30d", "hourly", 720, 719},
	} {
		code, body := a.do(t, hub.RoleViewer, "GET", "/api/v1/devices/03244/router-1/series?metric=latency_ms&range="+tc.rng, "")
		if code != 200 {
			t.Fatalf("%s: %d %v", tc.rng, code, body)
		}
		ts, avg, lo, hi := body["t"].([]any), body["avg"].([]any), body["min"].([]any), body["max"].([]any)
		if len(ts) != tc.buckets || len(avg) != tc.buckets || len(lo) != tc.buckets || len(hi) != tc.buckets || tc.buckets > maxChartBuckets {
			t.Errorf("%s: %d buckets (avg %d), want %d", tc.rng, len(ts), len(avg), tc.buckets)
		}
		if body["source"] != tc.source || body["range"] != tc.rng {
			t.Errorf("%s: source %v range %v", tc.rng, body["source"], body["range"])
		}
		if n := int(body["points"].(float64)); n < tc.minPoints || n > tc.buckets {
			t.Errorf("%s: %d points with data, want %d–%d", tc.rng, n, tc.minPoints, tc.buckets)
		}
		for i := range avg {
			if avg[i] == nil {
				continue
			}
			if mn, av, mx := lo[i].(float64), avg[i].(float64), hi[i].(float64); mn > av || av > mx || mn < 3 || mx > 69 {
				t.Fatalf("%s bucket %d: min %v avg %v max %v", tc.rng, i, mn, av, mx)
			}
		}
		// The hourly buckets hold a whole hour of readings: 10..69, average 39.5.
		if tc.source == "hourly" {
			mid := len(avg) / 2
			if lo[mid].(float64) != 10 || hi[mid].(float64) != 69 || math.Abs(avg[mid].(float64)-39.5) > 1e-9 {
				t.Errorf("%s: hour %d is %v/%v/%v, want 10/39.5/69", tc.rng, mid, lo[mid], avg[mid], hi[mid])
			}
		}
	}
	for _, tc := range []struct {
		path  string
		code  int
		field string
	}{
		{"/api/v1/devices/03244/router-1/series?metric=latency_ms&range=2d", 400, "range"},
		{"/api/v1/devices/03244/router-1/series?range=1h", 400, "metric"},
		{"/api/v1/devices/03244/router-1/series?metric=lat%20ms&range=1h", 400, "metric"},
		{"/api/v1/devices/03244/router-1/series?metric=temp_c&range=1h", 404, "metric"},
		{"/api/v1/devices/03244/nope/series?metric=latency_ms&range=1h", 404, "id"},
		{"/api/v1/devices/99999/router-1/series?metric=latency_ms&range=1h", 404, "unit"},
		{"/api/v1/devices/03244/router-1/history?days=0", 400, "days"},
		{"/api/v1/devices/03244/nope/history", 404, "id"},
	} {
		code, body := a.do(t, hub.RoleViewer, "GET", tc.path, "")
		e, _ := body["error"].(map[string]any)
		if code != tc.code || e["field"] != tc.field || e["message"] == "" {
			t.Errorf("GET %s = %d %v, want %d naming %s", tc.path, code, body, tc.code, tc.field)
		}
	}
	if code, _ := a.do(t, "", "GET", "/api/v1/devices/03244/router-1/series?metric=latency_ms&range=1h", ""); code != 401 {
		t.Errorf("anonymous series = %d", code)
	}
}

// A device's ups and downs are stored with why, and the history lists
// them with its alarms, incidents (its own and its parent's) and windows.
func TestDeviceStatusHistory(t *testing.T) {
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
		{"communehub/03244/pc-1/status", "offline"}, // its own last will
		{"communehub/03244/pc-1/status", "online"},
		{"communehub/03244/router/status", "offline"},
		{"communehub/03244/pc-1/status", "offline"}, // behind a failed parent: unreachable
	} {
		if err := publish(t, c, m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	if code, body := a.do(t, hub.RoleTechnician, "POST", "/api/v1/maintenance",
		`{"unit":"03244","device":"pc-1","starts_at":"2030-01-01T00:00:00Z","ends_at":"2030-01-01T02:00:00Z","reason":"thay ổ cứng"}`); code != 201 {
		t.Fatalf("window %d %v", code, body)
	}
	var body map[string]any
	hubtest.WaitFor(t, 5*time.Second, func() bool {
		_, body = a.do(t, hub.RoleViewer, "GET", "/api/v1/devices/03244/pc-1/history", "")
		st, _ := body["status"].([]any)
		return len(st) >= 4 && st[0].(map[string]any)["to"] == StatusUnreachable
	}, "pc-1's history reaches unreachable")
	st := body["status"].([]any)
	want := []struct{ from, to, reason string }{ // newest first
		{StatusOnline, StatusUnreachable, "parent router down"},
		{StatusOffline, StatusOnline, ""},
		{StatusOnline, StatusOffline, "reported offline"},
		{"", StatusOnline, ""}, // first seen (the unknown before its first status is not news)
	}
	for i, w := range want {
		ch := st[i].(map[string]any)
		if ch["from"] != w.from || ch["to"] != w.to || (ch["reason"] != nil && ch["reason"] != w.reason) || (ch["reason"] == nil && w.reason != "") {
			t.Errorf("change %d = %v, want %v", i, ch, w)
		}
	}
	incs, _ := body["incidents"].([]any)
	if len(incs) == 0 || incs[0].(map[string]any)["root_device"] != "router" {
		t.Errorf("pc-1's incidents lack its parent's: %v", incs)
	}
	if ws, _ := body["maintenance"].([]any); len(ws) != 1 || ws[0].(map[string]any)["reason"] != "thay ổ cứng" {
		t.Errorf("maintenance %v", body["maintenance"])
	}
}

// Two hub instances on one database see the same change: it is stored
// once; a change into "unknown" (the hub not knowing) is not news, and the
// next change names the status before it.
func TestStatusChangesStoredOnce(t *testing.T) {
	t.Parallel()
	pool := seededDB(t)
	ctx := context.Background()
	at := time.Now().Truncate(time.Second)
	rows := []statusChangeRow{
		{"03244", "sw", StatusChange{At: at, From: StatusOnline, To: StatusOffline}},
		{"03244", "sw", StatusChange{At: at.Add(time.Second), From: StatusOnline, To: StatusOffline}}, // the other instance
		{"03244", "sw", StatusChange{At: at.Add(time.Minute), From: StatusUnknown, To: StatusOnline}},
	}
	b := &pgx.Batch{}
	queueChanges(b, rows)
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	got, err := queryStatusChanges(ctx, pool, "03244", "sw", at.Add(-time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].From != StatusOffline || got[0].To != StatusOnline || got[1].To != StatusOffline {
		t.Fatalf("stored %+v", got)
	}
	for _, tc := range []struct {
		to, reason string
		want       bool
	}{
		{StatusOffline, "", true}, {StatusUnreachable, "parent r down", true}, {StatusFlapping, "", true},
		{StatusUnknown, "", false}, {StatusUnknown, "hub disconnected from its broker", false},
		{StatusUnknown, "agent offline", true}, {RegIgnored, "", false},
	} {
		if recordable(tc.to, tc.reason) != tc.want {
			t.Errorf("recordable(%q, %q) = %v", tc.to, tc.reason, !tc.want)
		}
	}
}

// Editing a device's meta: each bad field is refused naming it; a good
// edit changes the state (the status follows the new parent) and the row.
func TestDeviceMetaEdit(t *testing.T) {
	t.Parallel()
	a := newAPIHarness(t, Config{AllowAnonymous: true})
	c, err := mqttClient(t, a.broker, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range [][2]string{
		{"communehub/03244/router/meta", `{"name":"Router","kind":"router","ip":"192.168.1.1"}`},
		{"communehub/03244/sw/meta", `{"name":"Switch","kind":"switch","ip":"192.168.1.2","parent":"router"}`},
		{"communehub/03244/cam/meta", `{"name":"Cam","kind":"camera","ip":"192.168.1.30"}`},
		{"communehub/03244/router/status", "online"}, {"communehub/03244/sw/status", "online"}, {"communehub/03244/cam/status", "online"},
	} {
		if err := publish(t, c, m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	hubtest.WaitFor(t, 3*time.Second, func() bool { v, ok := a.svc.st.get("03244", "cam"); return ok && v.Status == StatusOnline }, "cam online")
	for _, tc := range []struct {
		path, body string
		code       int
		field      string
	}{
		{"/api/v1/devices/03244/cam", `{}`, 400, "body"},
		{"/api/v1/devices/03244/cam", `{"kind":"toaster"}`, 400, "kind"},
		{"/api/v1/devices/03244/cam", `{"ip":"192.168.1.300"}`, 400, "ip"},
		{"/api/v1/devices/03244/cam", `{"ip":"192.168.1.2"}`, 422, "ip"},
		{"/api/v1/devices/03244/cam", `{"name":"` + strings.Repeat("a", 201) + `"}`, 400, "name"},
		{"/api/v1/devices/03244/cam", `{"name":"a\u0007b"}`, 400, "name"},
		{"/api/v1/devices/03244/cam", `{"parent":"bad id!"}`, 400, "parent"},
		{"/api/v1/devices/03244/cam", `{"parent":"cam"}`, 422, "parent"},
		{"/api/v1/devices/03244/cam", `{"parent":"nobody"}`, 422, "parent"},
		{"/api/v1/devices/03244/router", `{"parent":"sw"}`, 422, "parent"}, // sw is below router
		{"/api/v1/devices/03244/cam", `{"colour":"red"}`, 400, "colour"},
		{"/api/v1/devices/03244/nobody", `{"name":"x"}`, 404, "id"},
	} {
		code, body := a.do(t, hub.RoleTechnician, "PATCH", tc.path, tc.body)
		e, _ := body["error"].(map[string]any)
		if code != tc.code || e["field"] != tc.field {
			t.Errorf("PATCH %s %s = %d %v, want %d naming %s", tc.path, tc.body, code, body, tc.code, tc.field)
		}
	}
	if code, _ := a.do(t, hub.RoleViewer, "PATCH", "/api/v1/devices/03244/cam", `{"name":"x"}`); code != 403 {
		t.Errorf("viewer PATCH = %d", code)
	}
	code, body := a.do(t, hub.RoleTechnician, "PATCH", "/api/v1/devices/03244/cam",
		`{"name":" Camera cổng ","kind":"camera","ip":"192.168.1.31","parent":"sw"}`)
	if code != 200 || body["name"] != "Camera cổng" || body["ip"] != "192.168.1.31" || body["parent"] != "sw" || body["registration"] != RegRegistered {
		t.Fatalf("edit = %d %v", code, body)
	}
	var name, ip, parent string
	var rev int64
	if err := a.pool.QueryRow(context.Background(), `SELECT name, ip, parent, reg_rev FROM devices WHERE unit='03244' AND id='cam'`).
		Scan(&name, &ip, &parent, &rev); err != nil || name != "Camera cổng" || ip != "192.168.1.31" || parent != "sw" || rev == 0 {
		t.Fatalf("row %q %q %q rev %d (%v)", name, ip, parent, rev, err)
	}
	// The new parent counts: the switch failing makes the camera unreachable.
	for _, d := range []string{"sw", "cam"} {
		if err := publish(t, c, "communehub/03244/"+d+"/status", "offline"); err != nil {
			t.Fatal(err)
		}
	}
	hubtest.WaitFor(t, 3*time.Second, func() bool {
		v, _ := a.svc.st.get("03244", "cam")
		return v.Status == StatusUnreachable
	}, "cam unreachable behind its new parent")
}
