package devices

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
)

// BenchmarkDeviceChart times the device page's chart request for one
// device with 30 days of 10 s telemetry of 200 devices in the database
// (docs/benchmarks.md). The hourly rollups are loaded at full density for
// the 30 days (200 devices × 2 metrics × 720 hours, each hour 360
// readings, as the upkeep writes them), and the raw rows for the last day
// (200 × 8,640 rows), rolled up by the hub's own rollup; the 29 earlier
// days of raw rows (50 M) are not loaded: no range reads them (7 d and
// 30 d read the rollups, 1 h and 24 h the raw rows of the last day).
//
//	COMMUNEHUB_BENCH=1 go test -run '^$' -bench BenchmarkDeviceChart -benchtime 50x ./devices/
func BenchmarkDeviceChart(b *testing.B) {
	if os.Getenv("COMMUNEHUB_BENCH") != "1" {
		b.Skip("benchmark: set COMMUNEHUB_BENCH=1")
	}
	ctx := context.Background()
	pool := seededDB(b)
	now := time.Now().UTC()
	start := now.Truncate(time.Hour).Add(-30 * 24 * time.Hour)
	rawFrom := now.Add(-24 * time.Hour).Truncate(time.Hour)
	t0 := time.Now()
	for m := start; !m.After(now.AddDate(0, 1, 0)); m = m.AddDate(0, 1, 0) {
		if err := ensurePartition(ctx, pool, m); err != nil {
			b.Fatal(err)
		}
	}
	steps := []struct{ what, sql string }{
		{"devices", `INSERT INTO devices(unit, id, name, kind, registration, status, last_seen, metrics)
			SELECT '03244', 'dev-' || d, 'Thiết bị ' || d, 'pc', 'registered', 'online', now(), '{"latency_ms": 5, "loss_pct": 0}'
			FROM generate_series(1, 200) d`},
		// Hourly rollups of a 10 s metric: 360 readings an hour.
		{"hourly", `INSERT INTO telemetry_hourly(unit, device, metric, hour, n, sum, min, max)
			SELECT '03244', 'dev-' || d, m, h, 360, 360 * (10 + d % 7 + extract(hour FROM h)), 3 + d % 7, 40 + extract(hour FROM h)
			FROM generate_series(1, 200) d, unnest(ARRAY['latency_ms', 'loss_pct']) m,
			     generate_series($1::timestamptz, $2::timestamptz - interval '1 hour', interval '1 hour') h`},
		// The last day raw, every 10 s.
		{"raw", `INSERT INTO telemetry(unit, device, ts, source, metrics)
			SELECT '03244', 'dev-' || d, ts, 'native',
			       jsonb_build_object('latency_ms', 10 + d % 7 + extract(second FROM ts) / 10, 'loss_pct', (extract(minute FROM ts)::int % 13 = 0)::int * 5)
			FROM generate_series(1, 200) d, generate_series($1::timestamptz, $2::timestamptz, interval '10 seconds') ts`},
		{"mark", `INSERT INTO telemetry_rollup(id, done_until) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET done_until = $1`},
	}
	for _, st := range steps {
		var args []any
		switch st.what {
		case "hourly":
			args = []any{start, rawFrom}
		case "raw":
			args = []any{rawFrom, now}
		case "mark":
			args = []any{rawFrom}
		}
		if _, err := pool.Exec(ctx, st.sql, args...); err != nil {
			b.Fatalf("%s: %v", st.what, err)
		}
	}
	if err := rollup(ctx, pool, now); err != nil { // the last day's hours, as the upkeep rolls them
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	var raw, hourly int64
	_ = pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM telemetry), (SELECT count(*) FROM telemetry_hourly)`).Scan(&raw, &hourly)
	b.Logf("loaded %d raw rows and %d hourly rows in %s", raw, hourly, time.Since(t0).Round(time.Second))

	h := startTestHub(b, pool, Config{AllowAnonymous: true})
	auth := hub.NewAuth(pool, hub.AuthConfig{}, nil)
	core := &hub.Core{Pool: pool, Bus: h.bus, Auth: auth, Units: hub.NewUnits(pool), Metrics: hub.NewMetrics(),
		Sockets: hub.NewSockets(), Ready: hub.NewReadiness(), Logger: testLogger(b)}
	app := hub.NewApp(hub.AppOptions{})
	h.svc.Mount(core.Routes(app, core.Mount(app)))
	_, tok, err := auth.CreateToken(ctx, "bench", hub.RoleViewer, "")
	if err != nil {
		b.Fatal(err)
	}
	for _, rng := range []string{"30d", "7d", "24h", "1h"} {
		b.Run(rng, func(b *testing.B) {
			var size int
			var points float64
			var worst time.Duration
			for i := 0; i < b.N; i++ {
				req := httptest.NewRequest("GET", "/api/v1/devices/03244/dev-42/series?metric=latency_ms&range="+rng, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				t := time.Now()
				resp, err := app.Test(req, 30000)
				if err != nil {
					b.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				worst = max(worst, time.Since(t))
				if resp.StatusCode != 200 {
					b.Fatalf("%d %s", resp.StatusCode, body)
				}
				var ch struct {
					Points float64 `json:"points"`
				}
				_ = json.Unmarshal(body, &ch)
				size, points = len(body), ch.Points
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/req")
			b.ReportMetric(float64(worst.Microseconds())/1000, "max-ms")
			b.ReportMetric(points, "points")
			b.ReportMetric(float64(size), "bytes")
		})
	}
}
