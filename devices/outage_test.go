package devices

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// While PostgreSQL is unreachable the embedded broker keeps acknowledging
// (the spool holds the rows), so a device is not stalled after its
// in-flight window; everything is stored once the database is back.
// Without a spool the PUBACKs wait for the commit and the device stops
// after its window: the subtest shows the difference the spool makes.
func TestEmbeddedBrokerKeepsAcknowledgingDuringDatabaseOutage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		spool bool
	}{{"spool", true}, {"no spool", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool, dbURL := hubtest.NewDB(t, hub.Migrations, Migrations)
			if err := hub.SeedUnits(ctx, pool); err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(dbURL)
			px := hubtest.NewProxy(t, u.Host, false)
			u.Host = px.Addr
			cut, err := pgxpool.New(ctx, u.String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cut.Close)
			cfg := Config{AllowAnonymous: true}
			if tc.spool {
				cfg.SpoolDir = t.TempDir()
			}
			h := startTestHub(t, cut, cfg)
			const window = 100
			pub := &reliablePublisher{broker: h.broker, topic: "communehub/03244/ups-1/telemetry", base: time.Now().Add(-time.Hour)}
			pctx, cancel := context.WithCancel(ctx)
			defer cancel()
			const n = 3000
			errc := make(chan error, 1)
			go func() { errc <- pub.run(pctx, n, 2000, window) }() // 20 every 50 ms: 400 msg/s
			hubtest.WaitFor(t, 10*time.Second, func() bool { return pub.acked.Load() >= 200 }, "200 acks with the database up")
			up0 := pub.acked.Load()
			time.Sleep(hubtest.Timeout(2 * time.Second)) // sleep: a measuring interval, not a wait for a condition
			up := pub.acked.Load() - up0
			px.Cut()
			before := pub.acked.Load()
			hubtest.WaitFor(t, 10*time.Second, func() bool { return h.svc.ReadyIngest(ctx) != nil }, "ingest not ready")
			// Two seconds of outage: how many acks? (the publisher offers 400 msg/s)
			time.Sleep(hubtest.Timeout(2 * time.Second)) // sleep: a measuring interval, not a wait for a condition
			during := pub.acked.Load() - before
			t.Logf("%s: %d acknowledged in 2 s with the database up, %d in 2 s of outage (window %d)", tc.name, up, during, window)
			if tc.spool && during < 3*window {
				t.Fatalf("only %d acks during the outage with the spool: devices stalled", during)
			}
			if !tc.spool && during > window {
				// Held PUBACKs: the device stops after at most its window.
				t.Fatalf("%d acks during the outage without a spool, over the window of %d", during, window)
			}
			px.Restore(t)
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			hubtest.WaitFor(t, 30*time.Second, func() bool { return h.count(t, "device='ups-1'") == n }, fmt.Sprintf("all %d stored", n))
		})
	}
}
