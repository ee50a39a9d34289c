package devices

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

func TestMain(m *testing.M) { hubtest.Main(m) }

// testHub is the devices component running against a real database and a
// real broker (embedded unless cfg.URL is set), with its own bus.
type testHub struct {
	svc    *Service
	pool   *pgxpool.Pool
	bus    *hub.Bus
	broker string
	cancel context.CancelFunc
	done   chan struct{}
	stopMu sync.Once
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

func seededDB(t testing.TB) *pgxpool.Pool {
	pool, _ := hubtest.NewDB(t, hub.Migrations, Migrations)
	if err := hub.SeedUnits(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	return pool
}

func startTestHub(t testing.TB, pool *pgxpool.Pool, cfg Config) *testHub {
	t.Helper()
	return startTestHubLog(t, pool, cfg, testLogger(t))
}

// startTestHubLog is startTestHub with the given logger.
func startTestHubLog(t testing.TB, pool *pgxpool.Pool, cfg Config, log *slog.Logger) *testHub {
	t.Helper()
	if cfg.URL == "" && cfg.Listen == "" {
		cfg.Listen = fmt.Sprintf("127.0.0.1:%d", hubtest.FreePort(t))
	}
	// A strict bus: publishing a topic devices did not declare fails the test.
	topics := hub.NewTopics(nil)
	bus := hub.NewBus(hub.BusOptions{Topics: topics, Strict: true})
	svc, err := New(cfg, hub.Deps{Pool: pool, Bus: bus, Topics: topics, Metrics: hub.NewMetrics(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := svc.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	h := &testHub{svc: svc, pool: pool, bus: bus, broker: svc.cfg.Listen, cancel: cancel, done: make(chan struct{})}
	if cfg.URL != "" {
		h.broker = strings.TrimPrefix(cfg.URL, "tcp://")
	}
	go func() { svc.Run(ctx); close(h.done) }()
	t.Cleanup(h.stop)
	hubtest.WaitFor(t, 10*time.Second, func() bool { return svc.ReadyMQTT(ctx) == nil }, "mqtt ready")
	return h
}

func (h *testHub) stop() {
	h.stopMu.Do(func() {
		h.cancel()
		<-h.done
	})
}

func (h *testHub) count(t testing.TB, where string, args ...any) int {
	t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM telemetry WHERE `+where, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// mqttClient connects a paho client; opts may adjust the options.
func mqttClient(t testing.TB, broker, user, pass string, opts ...func(*paho.ClientOptions)) (paho.Client, error) {
	o := paho.NewClientOptions().AddBroker("tcp://" + broker).
		SetClientID(fmt.Sprintf("test-%d", time.Now().UnixNano())).SetUsername(user).SetPassword(pass).
		SetAutoReconnect(false).SetConnectTimeout(hubtest.Timeout(3 * time.Second))
	for _, f := range opts {
		f(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(hubtest.Timeout(5 * time.Second)) {
		return nil, fmt.Errorf("connect timed out")
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c, nil
}

func publish(t testing.TB, c paho.Client, topic string, payload any) error {
	t.Helper()
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(hubtest.Timeout(5 * time.Second)) {
		return fmt.Errorf("publish %s timed out", topic)
	}
	return tok.Error()
}

func TestEmbeddedBrokerAuthenticatesAndEnforcesACL(t *testing.T) {
	t.Parallel()
	pool := seededDB(t)
	h := startTestHub(t, pool, Config{})
	ctx := context.Background()

	if _, err := mqttClient(t, h.broker, "", ""); err == nil {
		t.Fatal("anonymous client accepted outside demo mode")
	}
	dev, secret, err := CreateCredential(ctx, pool, "03244", "router-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mqttClient(t, h.broker, dev.Username, "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	c, err := mqttClient(t, h.broker, dev.Username, secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := publish(t, c, "communehub/03244/router-1/telemetry", `{"metrics":{"latency_ms":1}}`); err != nil {
		t.Fatal(err)
	}
	hubtest.WaitFor(t, 2*time.Second, func() bool { return h.count(t, "device='router-1'") == 1 }, "own telemetry stored")

	// Another device's topic: MQTT 3.1.1 has no negative PUBACK, so the
	// broker disconnects the client; nothing is stored.
	_ = publish(t, c, "communehub/03244/switch-1/telemetry", `{"metrics":{"latency_ms":1}}`)
	hubtest.WaitFor(t, 2*time.Second, func() bool { return !c.IsConnected() }, "the broker to disconnect the client")
	if n := h.count(t, "device='switch-1'"); n != 0 {
		t.Fatalf("a device wrote another device's telemetry (%d rows)", n)
	}

	// A per-commune login may publish for any device of its commune only.
	com, csecret, err := CreateCredential(ctx, pool, "03244", "")
	if err != nil {
		t.Fatal(err)
	}
	cc, err := mqttClient(t, h.broker, com.Username, csecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := publish(t, cc, "communehub/03244/switch-1/telemetry", `{"metrics":{"latency_ms":2}}`); err != nil {
		t.Fatal(err)
	}
	_ = publish(t, cc, "communehub/03199/switch-1/telemetry", `{"metrics":{"latency_ms":2}}`)
	hubtest.WaitFor(t, 2*time.Second, func() bool { return h.count(t, "device='switch-1' AND unit='03244'") == 1 }, "commune login telemetry")
	if n := h.count(t, "unit='03199'"); n != 0 {
		t.Fatalf("a commune login wrote another commune's telemetry")
	}

	// Revoked logins are refused once the cache reloads.
	if err := RevokeCredential(ctx, pool, dev.ID); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.auth.reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := mqttClient(t, h.broker, dev.Username, secret); err == nil {
		t.Fatal("revoked credential accepted")
	}
}

// Bad input of every kind, published with mosquitto_pub, is rejected and
// counted by reason; the hub keeps working. A packet over the broker's
// limit (COMMUNEHUB_MQTT_MAX_PACKET) also closes its connection.
func TestBadInputIsRejectedAndCounted(t *testing.T) {
	t.Parallel()
	pub, err := exec.LookPath("mosquitto_pub")
	if err != nil {
		t.Skip("needs mosquitto_pub (apt-get install mosquitto-clients)")
	}
	pool := seededDB(t)
	h := startTestHub(t, pool, Config{AllowAnonymous: true})
	host, port, _ := net.SplitHostPort(h.broker)
	big := strings.Repeat("x", 1<<20)
	cases := []struct {
		topic, payload, reason string
		closes                 bool
	}{
		{"communehub/03244/router-1/telemetry", "garbage \x01", "bad_json", false},
		{"communehub/03244/router-1/telemetry", `{"metrics":{"latency_ms":"fast"}}`, "bad_type", false},
		{"communehub/03244/router-1/telemetry", `{"metrics":{"a":1},"pad":"` + big + `"}`, "too_large", true},
		{"communehub/03244/router-1/telemetry/x", `{"metrics":{"a":1}}`, "topic_depth", false},
		{"communehub/03244/bad%id/telemetry", `{"metrics":{"a":1}}`, "bad_id", false},
		{"communehub/99999/router-1/telemetry", `{"metrics":{"a":1}}`, "unknown_unit", false},
		{"communehub/03244/router-1/telemetry", `{"ts":4102444800000,"metrics":{"a":1}}`, "future_timestamp", false},
		{"communehub/03244/router-1/status", `maybe`, "bad_status", false},
	}
	for _, c := range cases {
		payload := c.payload
		args := []string{"-h", host, "-p", port, "-q", "1", "-t", c.topic}
		cmd := exec.Command(pub, append(args, "-s")...)
		cmd.Stdin = strings.NewReader(payload)
		if out, err := cmd.CombinedOutput(); (err != nil) != c.closes {
			t.Fatalf("mosquitto_pub %s (%s): %v %s", c.topic, c.reason, err, out)
		}
	}
	want := map[string]int64{}
	for _, c := range cases {
		want[c.reason]++
	}
	hubtest.WaitFor(t, 3*time.Second, func() bool {
		got := h.svc.Stats().Rejected
		for r, n := range want {
			if got[r] != n {
				return false
			}
		}
		return true
	}, "every bad message counted by reason")
	cmd := exec.Command(pub, "-h", host, "-p", port, "-q", "1", "-t", "communehub/03244/router-1/telemetry", "-m", `{"metrics":{"latency_ms":5}}`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v %s", err, out)
	}
	hubtest.WaitFor(t, 2*time.Second, func() bool { return h.count(t, "device='router-1'") == 1 }, "a good message after the bad ones")
}

// A device's last will reaches the bus (the wall) within a second of its
// connection dying.
func TestLastWillReachesTheBusWithinASecond(t *testing.T) {
	t.Parallel()
	pool := seededDB(t)
	h := startTestHub(t, pool, Config{AllowAnonymous: true})
	sub, err := h.bus.Subscribe([]string{"commune/03244/devices"}, 1<<22)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var conn net.Conn
	var connMu sync.Mutex
	c, err := mqttClient(t, h.broker, "", "", func(o *paho.ClientOptions) {
		o.SetWill("communehub/03244/switch-core/status", "offline", 1, true)
		o.SetCustomOpenConnectionFn(func(uri *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			nc, err := net.Dial("tcp", uri.Host)
			connMu.Lock()
			conn = nc
			connMu.Unlock()
			return nc, err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := publish(t, c, "communehub/03244/switch-core/meta", `{"name":"Core switch","kind":"switch"}`); err != nil {
		t.Fatal(err)
	}
	if err := publish(t, c, "communehub/03244/switch-core/status", `online`); err != nil {
		t.Fatal(err)
	}
	waitStatus := func(want string, within time.Duration) time.Duration {
		start := time.Now()
		deadline := time.After(within)
		for {
			select {
			case <-sub.Ready():
				for _, ev := range sub.Drain() {
					var s Snapshot
					if err := json.Unmarshal(ev.Data, &s); err != nil {
						t.Fatal(err)
					}
					down := len(s.Incidents) == 1 && s.Incidents[0].RootDevice == "switch-core" && s.Counts.Offline == 1
					if (want == "offline" && down) || (want == "online" && s.Counts.Online == 1) {
						return time.Since(start)
					}
				}
			case <-deadline:
				t.Fatalf("no %s status on the bus within %v", want, within)
			}
		}
	}
	waitStatus("online", 2*time.Second)
	connMu.Lock()
	start := time.Now()
	conn.Close() // the device dies without DISCONNECT: the broker sends its will
	connMu.Unlock()
	d := waitStatus("offline", time.Second)
	t.Logf("last will → bus event in %v", time.Since(start))
	_ = d
}

// A Telegraf agent's batch on telegraf/{commune}/{agent}/… reaches the
// devices it names: a registered one by its IP, an unknown target as an
// unregistered device; the agent's will makes them unknown.
func TestTelegrafAgentThroughTheBroker(t *testing.T) {
	t.Parallel()
	pool := seededDB(t)
	h := startTestHub(t, pool, Config{})
	ctx := context.Background()
	com, secret, err := CreateCredential(ctx, pool, "03244", "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := mqttClient(t, h.broker, com.Username, secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := publish(t, c, "communehub/03244/printer/meta", `{"name":"Máy in","kind":"printer","ip":"192.168.1.30"}`); err != nil {
		t.Fatal(err)
	}
	// The printer and the agent are different devices: their messages are
	// not ordered with each other. The printer is known before the agent speaks.
	hubtest.WaitFor(t, 2*time.Second, func() bool { v, ok := h.svc.st.get("03244", "printer"); return ok && v.IP == "192.168.1.30" }, "printer meta applied")
	agent, err := mqttClient(t, h.broker, com.Username, secret, func(o *paho.ClientOptions) {
		o.SetWill("communehub/03244/agent-pc/status", "offline", 1, true)
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Now().UnixMilli()
	batch := fmt.Sprintf(`{"metrics":[
		{"fields":{"average_response_ms":1.2,"percent_packet_loss":0,"result_code":0},"name":"ping","tags":{"url":"192.168.1.30","host":"agent-pc"},"timestamp":%d},
		{"fields":{"average_response_ms":3.4,"percent_packet_loss":0,"result_code":0},"name":"ping","tags":{"url":"192.168.1.77","host":"agent-pc"},"timestamp":%d}]}`, ts, ts)
	if err := publish(t, agent, "telegraf/03244/agent-pc/ping", batch); err != nil {
		t.Fatal(err)
	}
	hubtest.WaitFor(t, 2*time.Second, func() bool { return h.count(t, "source='ping'") == 2 }, "two ping rows")
	if n := h.count(t, "device='printer' AND (metrics->>'latency_ms')::float8 = 1.2"); n != 1 {
		t.Fatalf("printer rows %d", n)
	}
	if v, _ := h.svc.st.get("03244", "192.168.1.77"); v.Status != StatusUnregistered || v.IP != "192.168.1.77" || v.Agent != "agent-pc" {
		t.Fatalf("unknown target %+v", v)
	}
	if v, _ := h.svc.st.get("03244", "printer"); v.Status != StatusOnline {
		t.Fatalf("printer %+v", v)
	}
	agent.Disconnect(0) // a clean disconnect sends no will: publish it as the agent's supervisor would
	if err := publish(t, c, "communehub/03244/agent-pc/status", "offline"); err != nil {
		t.Fatal(err)
	}
	hubtest.WaitFor(t, 2*time.Second, func() bool {
		v, _ := h.svc.st.get("03244", "printer")
		return v.Status == StatusUnknown && v.Reason == "agent offline"
	}, "printer unknown (agent offline)")
}

// Stopping the component stops every goroutine it started: the broker and
// its clients' goroutines, the writer, acker, persister, publisher and ticker.
func TestServiceStopsItsGoroutines(t *testing.T) {
	pool := seededDB(t)
	_ = pool.Ping(context.Background())
	time.Sleep(100 * time.Millisecond) // sleep: the pool's start-up goroutines settle before the baseline
	base := runtime.NumGoroutine()
	for _, cfg := range []Config{{AllowAnonymous: true}, {URL: "tcp://" + hubtest.Mosquitto(t), ClientID: fmt.Sprintf("leak-%d", time.Now().UnixNano())}} {
		h := startTestHub(t, pool, cfg)
		c, err := mqttClient(t, h.broker, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if err := publish(t, c, "communehub/03244/leak-1/telemetry", `{"metrics":{"a":1}}`); err != nil {
			t.Fatal(err)
		}
		hubtest.WaitFor(t, 2*time.Second, func() bool { return h.count(t, "device='leak-1'") >= 1 }, "stored")
		c.Disconnect(50)
		h.stop()
		if cfg.URL != "" {
			forget := paho.NewClient(paho.NewClientOptions().AddBroker(cfg.URL).SetClientID(cfg.ClientID).SetCleanSession(true))
			if tok := forget.Connect(); tok.WaitTimeout(hubtest.Timeout(5*time.Second)) && tok.Error() == nil {
				forget.Disconnect(50)
			}
		}
	}
	hubtest.WaitFor(t, 5*time.Second, func() bool { return runtime.NumGoroutine() <= base+1 }, "goroutines back to baseline")
}
