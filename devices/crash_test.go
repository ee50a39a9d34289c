package devices

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// The real binary with its embedded broker: telemetry is published at QoS 1
// while PostgreSQL is unreachable, the hub is killed (SIGKILL) during the
// outage, the database comes back, the hub starts again on the same data
// dir. Every message it acknowledged must be stored, none twice.
func TestEmbeddedBrokerAckedTelemetrySurvivesCrashDuringOutage(t *testing.T) {
	t.Parallel()
	bin := hubtest.Build(t, "./cmd/communehub")
	pool, dbURL := hubtest.NewDB(t, hub.Migrations, Migrations)
	ctx := context.Background()
	if err := hub.SeedUnits(ctx, pool); err != nil {
		t.Fatal(err)
	}
	cred, pass, err := CreateCredential(ctx, pool, "03244", "")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	px := hubtest.NewProxy(t, u.Host, false)
	u.Host = px.Addr
	dataDir := t.TempDir()
	start := func() (*hubtest.Process, string) {
		addr := fmt.Sprintf("127.0.0.1:%d", hubtest.FreePort(t))
		broker := fmt.Sprintf("127.0.0.1:%d", hubtest.FreePort(t))
		p := hubtest.Start(t, bin, []string{
			"COMMUNEHUB_ADDR=" + addr, "COMMUNEHUB_DATABASE_URL=" + u.String(), "COMMUNEHUB_MQTT_LISTEN=" + broker,
			"COMMUNEHUB_DATA_DIR=" + dataDir, "COMMUNEHUB_LOG_FORMAT=json",
		})
		p.WaitHTTP(t, 30*time.Second, "http://"+addr+"/readyz", 200)
		return p, broker
	}
	p, broker := start()

	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + broker).
		SetClientID(fmt.Sprintf("crash-%d", time.Now().UnixNano())).SetUsername(cred.Username).SetPassword(pass).
		SetAutoReconnect(false).SetConnectTimeout(hubtest.Timeout(3 * time.Second)).SetWriteTimeout(time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(hubtest.Timeout(5*time.Second)) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(0)

	// One publisher with up to 200 messages in flight; acked holds the
	// timestamps (ms) of the messages the hub PUBACKed.
	base := time.Now().Add(-time.Hour).UnixMilli()
	var (
		mu      sync.Mutex
		acked   = map[int64]bool{}
		sent    atomic.Int64
		stop    = make(chan struct{})
		stopped = make(chan struct{})
	)
	go func() {
		defer close(stopped)
		window := make(chan struct{}, 200)
		var wg sync.WaitGroup
		defer wg.Wait()
		for i := int64(0); ; i++ {
			select {
			case <-stop:
				return
			case window <- struct{}{}:
			}
			ts := base + i
			tok := c.Publish("communehub/03244/crash-dev/telemetry", 1, false,
				fmt.Sprintf(`{"ts":%d,"metrics":{"latency_ms":%d}}`, ts, i%100))
			sent.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-window }()
				if tok.WaitTimeout(hubtest.Timeout(3*time.Second)) && tok.Error() == nil {
					mu.Lock()
					acked[ts] = true
					mu.Unlock()
				}
			}()
		}
	}()
	nAcked := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	hubtest.WaitFor(t, 10*time.Second, func() bool { return nAcked() >= 500 }, "500 PUBACKs with the database up")
	px.Cut()
	before := nAcked()
	hubtest.WaitFor(t, 10*time.Second, func() bool { return nAcked() >= before+2000 }, "2,000 PUBACKs during the outage")
	p.Kill()
	close(stop)
	<-stopped
	total := nAcked()
	t.Logf("sent %d, acknowledged %d (%d during the outage) before kill -9", sent.Load(), total, total-before)

	px.Restore(t)
	p2, _ := start()
	count := func() (rows, distinct int) {
		if err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT ts) FROM telemetry WHERE unit='03244' AND device='crash-dev'`).
			Scan(&rows, &distinct); err != nil {
			t.Fatal(err)
		}
		return
	}
	missing := func() int {
		rows, err := pool.Query(ctx, `SELECT (extract(epoch FROM ts)*1000)::bigint FROM telemetry WHERE unit='03244' AND device='crash-dev'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		have := map[int64]bool{}
		for rows.Next() {
			var ms int64
			if err := rows.Scan(&ms); err != nil {
				t.Fatal(err)
			}
			have[ms] = true
		}
		n := 0
		for ts := range acked {
			if !have[ts] {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(hubtest.Timeout(15 * time.Second))
	for missing() > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // sleep: the polling interval (the counts are reported either way)
	}
	rows, distinct := count()
	if n := missing(); n > 0 {
		t.Fatalf("%d of %d acknowledged messages were never stored (%d rows stored)\n%s", n, total, rows, p2.Stderr())
	}
	if rows != distinct {
		t.Fatalf("%d rows for %d distinct messages: stored twice", rows, distinct)
	}
	t.Logf("stored %d rows, every acknowledged message once", rows)
}
