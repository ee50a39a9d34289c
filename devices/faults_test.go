package devices

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	dto "github.com/prometheus/client_model/go"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
	"github.com/communehub/communehub/hub/pgembed"
)

// shippedMosquittoConf returns deploy/mosquitto.conf without the lines a
// test broker sets itself (listener, persistence location).
func shippedMosquittoConf(t testing.TB) string {
	b, err := os.ReadFile(filepath.Join("..", "deploy", "mosquitto.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && (f[0] == "listener" || f[0] == "persistence_location" || f[0] == "per_listener_settings" || f[0] == "allow_anonymous") {
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// mosquittoProc is a private broker the test can restart on the same port
// and persistence directory.
type mosquittoProc struct {
	t    testing.TB
	bin  string
	conf string
	cmd  *exec.Cmd
	done chan struct{}
}

func startMosquittoProc(t testing.TB, port int) *mosquittoProc {
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/mosquitto"); err != nil {
			t.Skip("needs the mosquitto binary")
		}
	}
	dir := t.TempDir()
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence_location %s/\n", port, dir)
	if os.Geteuid() == 0 {
		conf += "user root\n"
	}
	if os.Getenv("BENCH_STOCK") != "1" { // BENCH_STOCK=1: Mosquitto's defaults, to show what the shipped file fixes
		conf += shippedMosquittoConf(t)
	} else {
		conf += "persistence true\nsys_interval 5\n"
	}
	path := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &mosquittoProc{t: t, bin: bin, conf: path}
	m.start()
	t.Cleanup(func() { m.stop(syscall.SIGKILL) })
	return m
}

// cpu returns the broker's CPU time so far (user + system).
func (m *mosquittoProc) cpu() time.Duration {
	if m == nil || m.cmd == nil {
		return 0
	}
	return procCPU(m.cmd.Process.Pid)
}

// procCPU reads a process's user + system time from /proc.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

func (m *mosquittoProc) start() {
	m.cmd = exec.Command(m.bin, "-c", m.conf)
	m.done = make(chan struct{})
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	cmd, done := m.cmd, m.done
	go func() { _ = cmd.Wait(); close(done) }()
}

func (m *mosquittoProc) stop(sig syscall.Signal) {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(sig)
	<-m.done
	m.cmd = nil
}

// reliablePublisher publishes n numbered telemetry messages at QoS 1 and
// republishes whatever was not acknowledged when its connection broke: at
// least once. Each message has its own timestamp, so the hub's stored rows
// must be exactly n.
type reliablePublisher struct {
	broker, topic string
	base          time.Time
	acked         atomic.Int64
}

func (p *reliablePublisher) payload(i int) string {
	return fmt.Sprintf(`{"ts":%d,"metrics":{"seq":%d,"latency_ms":1.5}}`, p.base.Add(time.Duration(i)*time.Millisecond).UnixMilli(), i)
}

func (p *reliablePublisher) run(ctx context.Context, n, perSecond, window int) error {
	next := 0
	pending := map[int]paho.Token{}
	for next < n || len(pending) > 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + p.broker).
			SetClientID(fmt.Sprintf("pub-%d", time.Now().UnixNano())).SetAutoReconnect(false).SetConnectTimeout(hubtest.Timeout(2 * time.Second)))
		if tok := c.Connect(); !tok.WaitTimeout(hubtest.Timeout(3*time.Second)) || tok.Error() != nil {
			time.Sleep(200 * time.Millisecond) // sleep: the publisher's reconnect back-off
			continue
		}
		// Resend what was in flight when the last connection broke.
		retry := make([]int, 0, len(pending))
		for i := range pending {
			retry = append(retry, i)
		}
		pending = map[int]paho.Token{}
		for _, i := range retry {
			pending[i] = c.Publish(p.topic, 1, false, p.payload(i))
		}
		tick := time.NewTicker(time.Second / time.Duration(max(1, perSecond/100)))
		for c.IsConnectionOpen() && (next < n || len(pending) > 0) && ctx.Err() == nil {
			<-tick.C
			for i, tok := range pending {
				select {
				case <-tok.Done():
					if tok.Error() == nil {
						delete(pending, i)
						p.acked.Add(1)
					}
				default:
				}
			}
			for k := 0; k < max(1, perSecond/100) && next < n && len(pending) < window; k++ {
				pending[next] = c.Publish(p.topic, 1, false, p.payload(next))
				next++
			}
		}
		tick.Stop()
		c.Disconnect(0)
		// Failed tokens stay pending and are resent on the next connection.
		for i, tok := range pending {
			if tok.WaitTimeout(0) && tok.Error() == nil {
				delete(pending, i)
				p.acked.Add(1)
			}
		}
	}
	return nil
}

// Mosquitto restarted in the middle of a run: no QoS 1 message is lost and
// none is stored twice.
func TestMosquittoRestartLosesNothing(t *testing.T) {
	hubtest.SkipShort(t, "restarts Mosquitto under load")
	t.Parallel()
	port := hubtest.StablePort(t) // restarted on the same port below
	broker := fmt.Sprintf("127.0.0.1:%d", port)
	mq := startMosquittoProc(t, port)
	hubtest.WaitFor(t, 5*time.Second, func() bool { return answers(broker) }, "mosquitto listening")
	pool := seededDB(t)
	h := startTestHub(t, pool, Config{URL: "tcp://" + broker, ClientID: fmt.Sprintf("hub-%d", time.Now().UnixNano())})

	const n = 6000
	pub := &reliablePublisher{broker: broker, topic: "communehub/03244/router-1/telemetry", base: time.Now().Add(-time.Hour)}
	ctx, cancel := context.WithTimeout(context.Background(), hubtest.Timeout(60*time.Second))
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- pub.run(ctx, n, 2000, 500) }()

	hubtest.WaitFor(t, 20*time.Second, func() bool { return h.count(t, "device='router-1'") > n/3 }, "a third stored")
	mq.stop(syscall.SIGTERM) // graceful: the broker saves its sessions
	t.Logf("mosquitto stopped with %d stored", h.count(t, "device='router-1'"))
	// A hub that does not notice the broker going, or does not recover
	// once it is back, is stuck somewhere: show where.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("goroutines of the MQTT client and the ingest at the failure:\n%s", hubtest.Stacks("paho", "devices."))
		}
	})
	// Noticing the loss is paho's (its reader sees EOF, then its
	// handler goroutines drain): on a loaded machine that has taken over
	// 10 s; what this test holds the hub to is losing nothing.
	hubtest.WaitFor(t, 30*time.Second, func() bool { return h.svc.ReadyMQTT(context.Background()) != nil }, "mqtt not ready with the broker down")
	mq.start()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	hubtest.WaitFor(t, 60*time.Second, func() bool { return h.count(t, "device='router-1'") >= n }, "every message stored")
	time.Sleep(hubtest.Timeout(500 * time.Millisecond)) // sleep: a quiet window: anything redelivered late must not add rows
	if got := h.count(t, "device='router-1'"); got != n {
		t.Fatalf("stored %d rows for %d messages", got, n)
	}
	var distinct int
	if err := pool.QueryRow(context.Background(), `SELECT count(DISTINCT (metrics->>'seq')) FROM telemetry WHERE device='router-1'`).Scan(&distinct); err != nil || distinct != n {
		t.Fatalf("distinct seq %d (%v)", distinct, err)
	}
	hubtest.WaitFor(t, 10*time.Second, func() bool { return h.svc.ReadyMQTT(context.Background()) == nil }, "mqtt ready again")
	// The hub follows the broker's drop counter ($SYS, every 5 s with the shipped configuration).
	hubtest.WaitFor(t, 12*time.Second, func() bool {
		h.svc.st.mu.Lock()
		defer h.svc.st.mu.Unlock()
		return !h.svc.st.broker.sysSeen.IsZero()
	}, "$SYS dropped counter received")
	if d := h.svc.Stats().BrokerDropped; d != 0 {
		t.Fatalf("broker dropped %d", d)
	}
}

// pgDir is a directory the postgres user can reach when the test runs as root.
func pgDir(t *testing.T) string {
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// PostgreSQL restarted in the middle of a run: the hub stays up, reports
// not-ready, keeps its queue within the bound (publishers are held), and
// catches up with nothing lost.
func TestPostgresRestartLosesNothing(t *testing.T) {
	hubtest.SkipShort(t, "restarts PostgreSQL under load")
	t.Parallel()
	postgresRestart(t, false)
}

// The same through an external Mosquitto: the hub's queue fills, the
// messages it cannot take stay unacknowledged in its broker session, and
// once the queue has room the hub reconnects and the broker redelivers them.
func TestPostgresRestartThroughMosquittoLosesNothing(t *testing.T) {
	hubtest.SkipShort(t, "restarts PostgreSQL under load")
	t.Parallel()
	postgresRestart(t, true)
}

func postgresRestart(t *testing.T, external bool) {
	dir := pgDir(t)
	port := uint32(hubtest.StablePort(t)) // restarted on the same port below
	ctx := context.Background()
	srv, err := pgembed.Start(ctx, pgembed.Options{Dir: dir, Port: port})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("needs a private PostgreSQL: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	url := strings.Replace(srv.URL(), "/postgres?", "/communehub?", 1)
	pool, err := hub.OpenPool(ctx, url, nil, hub.Migrations, Migrations)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := hub.SeedUnits(ctx, pool); err != nil {
		t.Fatal(err)
	}
	// The embedded broker spools (as the binary does): its queue fills to
	// the bound, then the spool takes the rest on disk.
	cfg := Config{AllowAnonymous: true, QueueRows: maxBatchRows, SpoolDir: t.TempDir()}
	if external {
		mport := hubtest.FreePort(t)
		startMosquittoProc(t, mport)
		broker := fmt.Sprintf("127.0.0.1:%d", mport)
		hubtest.WaitFor(t, 5*time.Second, func() bool { return answers(broker) }, "mosquitto listening")
		cfg = Config{URL: "tcp://" + broker, ClientID: fmt.Sprintf("hub-%d", time.Now().UnixNano()), QueueRows: maxBatchRows}
	}
	h := startTestHub(t, pool, cfg)

	const n = 15000 // three times the queue bound
	pub := &reliablePublisher{broker: h.broker, topic: "communehub/03244/router-1/telemetry", base: time.Now().Add(-time.Hour)}
	pctx, cancel := context.WithTimeout(ctx, hubtest.Timeout(90*time.Second))
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- pub.run(pctx, n, 3000, 200) }()
	var maxQueued atomic.Int64
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for pctx.Err() == nil {
			if q := int64(h.svc.w.queuedRows()); q > maxQueued.Load() {
				maxQueued.Store(q)
			}
			time.Sleep(5 * time.Millisecond) // sleep: the sampling interval
		}
	}()
	defer func() { cancel(); <-watchDone }()

	hubtest.WaitFor(t, 20*time.Second, func() bool { return h.count(t, "device='router-1'") > 2000 }, "2000 stored")
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	hubtest.WaitFor(t, 10*time.Second, func() bool { return h.svc.ReadyIngest(ctx) != nil }, "ingest reported not ready")
	hubtest.WaitFor(t, 20*time.Second, func() bool { return h.svc.w.queuedRows() >= maxBatchRows-10 }, "the queue filling up to its bound")
	time.Sleep(hubtest.Timeout(time.Second)) // sleep: a window in which publishers are held, not dropped
	if h.svc.ReadyMQTT(ctx) != nil {
		t.Error("the broker went down with the database")
	}
	held := pub.acked.Load()
	again, err := pgembed.Start(ctx, pgembed.Options{Dir: dir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = again.Stop() })
	if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	hubtest.WaitFor(t, 30*time.Second, func() bool { return h.svc.ReadyIngest(ctx) == nil && h.count(t, "device='router-1'") == n }, "caught up")
	if q := maxQueued.Load(); q > int64(h.svc.w.capRows) {
		t.Fatalf("queue reached %d rows, bound %d", q, h.svc.w.capRows)
	}
	if lost := h.svc.Stats().Lost; lost != 0 {
		t.Fatalf("lost %d", lost)
	}
	var deferred dto.Metric
	_ = h.svc.m.deferred.Write(&deferred)
	if external && deferred.GetCounter().GetValue() == 0 {
		t.Error("the queue never refused a delivery: the redelivery path was not exercised")
	}
	t.Logf("max queued %d (bound %d); %d messages acknowledged by the time the database came back; %.0f deliveries left to the broker",
		maxQueued.Load(), h.svc.w.capRows, held, deferred.GetCounter().GetValue())
}

// Two hubs in one shared-subscription group split a broker's telemetry:
// each gets a share, together they store every message once.
func TestSharedSubscriptionSplitsTheLoad(t *testing.T) {
	t.Parallel()
	port := hubtest.FreePort(t)
	broker := fmt.Sprintf("127.0.0.1:%d", port)
	startMosquittoProc(t, port)
	hubtest.WaitFor(t, 5*time.Second, func() bool { return answers(broker) }, "mosquitto listening")
	pool := seededDB(t)
	group := fmt.Sprintf("g%d", time.Now().UnixNano())
	var hubs []*testHub
	for i := 0; i < 2; i++ {
		hubs = append(hubs, startTestHub(t, pool, Config{URL: "tcp://" + broker, SharedGroup: group,
			ClientID: fmt.Sprintf("hub-%d-%s", i, group)}))
	}
	const n = 2000
	pub := &reliablePublisher{broker: broker, topic: "communehub/03244/router-1/telemetry", base: time.Now().Add(-time.Hour)}
	ctx, cancel := context.WithTimeout(context.Background(), hubtest.Timeout(60*time.Second))
	defer cancel()
	if err := pub.run(ctx, n, 2000, 200); err != nil {
		t.Fatal(err)
	}
	hubtest.WaitFor(t, 20*time.Second, func() bool { return hubs[0].count(t, "device='router-1'") == n }, "every message stored")
	for i, h := range hubs {
		var rows dto.Metric
		_ = h.svc.m.rows.Write(&rows)
		if got := rows.GetCounter().GetValue(); got < n/10 {
			t.Errorf("hub %d stored only %.0f of %d", i, got, n)
		} else {
			t.Logf("hub %d stored %.0f", i, got)
		}
	}
}
