package displays

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
	"github.com/fasthttp/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestMain(m *testing.M) { hubtest.Main(m) }

// testHub is one hub instance with the displays feature, served on
// loopback, as cmd/communehub wires it.
type testHub struct {
	t       testing.TB
	pool    *pgxpool.Pool
	bus     *hub.Bus
	svc     *Service
	metrics *hub.Metrics
	sockets *hub.Sockets
	addr    string // host:port
	token   string // an admin API token
	stop    func()
}

type hubConfig struct {
	addr       string // listen here (default 127.0.0.1:0)
	history    int    // bus history per topic
	opts       func(*Config)
	origins    []string // allowed websocket origins (hub.Deps.Origins)
	noFollower bool
}

// newDB returns a migrated database with the administrative units.
func newDB(t testing.TB) *pgxpool.Pool {
	pool, _ := newDBURL(t)
	return pool
}

func newDBURL(t testing.TB) (*pgxpool.Pool, string) {
	pool, url := hubtest.NewDB(t, hub.Migrations, Migrations)
	ctx, cancel := context.WithTimeout(context.Background(), hubtest.Timeout(time.Minute))
	defer cancel()
	if err := hub.SeedUnits(ctx, pool); err != nil {
		t.Fatalf("seed units: %v", err)
	}
	return pool, url
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("DISPLAYS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startHub starts a hub instance on pool. It stops at the end of the test
// (or earlier with h.stop).
func startHub(t testing.TB, pool *pgxpool.Pool, cfg hubConfig) *testHub {
	t.Helper()
	log := testLogger(t)
	metrics := hub.NewMetrics()
	auth := hub.NewAuth(pool, hub.AuthConfig{}, log)
	sockets := hub.NewSockets()
	units := hub.NewUnits(pool)
	core := &hub.Core{Pool: pool, Auth: auth, Units: units, Metrics: metrics, Sockets: sockets,
		Ready: hub.NewReadiness(), Logger: log, Origins: cfg.origins, Instance: "test"}
	// A strict bus: an event on a topic nobody declared fails the test.
	core.Topics = hub.NewTopics(&core.Guards)
	core.Topics.MustDeclare(publisherFamilies...)
	bus := hub.NewBus(hub.BusOptions{History: cfg.history, Logger: log, Metrics: metrics, Topics: core.Topics, Strict: true})
	core.Bus = bus
	app := hub.NewApp(hub.AppOptions{Logger: log, Metrics: metrics})
	api := core.Mount(app)
	o := Config{Build: "test-build", StatusInterval: 100 * time.Millisecond}
	if cfg.opts != nil {
		cfg.opts(&o)
	}
	svc, err := New(o, core.Deps("displays"))
	if err != nil {
		t.Fatal(err)
	}
	svc.Mount(core.Routes(app, api))

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	spawn := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	if !cfg.noFollower {
		spawn(hub.NewOutboxFollower(pool, bus, log, metrics).Run)
	}
	spawn(func(ctx context.Context) { _ = svc.Run(ctx) })

	addr := cfg.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	for end := time.Now().Add(hubtest.Timeout(5 * time.Second)); time.Now().Before(end); { // a restarted hub may wait for its old port
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond) // sleep: the polling interval
	}
	if err != nil {
		cancel()
		t.Fatalf("listen: %v", err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = app.Listener(ln) }()

	_, token, err := auth.CreateToken(context.Background(), fmt.Sprintf("admin-%p", svc), hub.RoleAdmin, "")
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	h := &testHub{t: t, pool: pool, bus: bus, svc: svc, metrics: metrics, sockets: sockets,
		addr: ln.Addr().String(), token: token}
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			sockets.CloseAll(hub.CloseGoingAway, "hub shutting down", 3*time.Second)
			_ = app.ShutdownWithTimeout(3 * time.Second)
			<-served
			cancel()
			wg.Wait()
		})
	}
	t.Cleanup(h.stop)
	return h
}

// do calls the REST API as the admin and decodes the JSON answer into out.
func (h *testHub) do(method, path string, body any, out any) int {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+h.addr+path, rd)
	req.Header.Set("Authorization", "Bearer "+h.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			h.t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

// createDisplay creates a display through the API and returns it with its token.
func (h *testHub) createDisplay(name, scope, layout, class string) (*Display, string) {
	h.t.Helper()
	var res struct {
		Display *Display `json:"display"`
		Token   string   `json:"token"`
		Error   *hub.Error
	}
	code := h.do("POST", "/api/v1/displays", map[string]any{"name": name, "scope": scope, "layout": layout, "classification": class}, &res)
	if code != 201 {
		h.t.Fatalf("create display: %d %+v", code, res.Error)
	}
	return res.Display, res.Token
}

// client is a display socket driven by a test.
type client struct {
	t    testing.TB
	ws   *websocket.Conn
	msgs chan map[string]any
	raw  chan []byte
	done chan struct{}
	err  error // why reading stopped; valid after done
}

func (h *testHub) dial(header http.Header) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	return d.Dial("ws://"+h.addr+"/ws/display", header)
}

// connect opens a socket, sends hello and starts reading into c.msgs.
func (h *testHub) connect(hello map[string]any) *client {
	h.t.Helper()
	ws, _, err := h.dial(nil)
	if err != nil {
		h.t.Fatalf("dial: %v", err)
	}
	c := &client{t: h.t, ws: ws, msgs: make(chan map[string]any, 1024), raw: make(chan []byte, 1024), done: make(chan struct{})}
	h.t.Cleanup(func() { ws.Close(); <-c.done })
	if hello != nil {
		c.send(hello)
	}
	go c.readLoop()
	return c
}

func (c *client) readLoop() {
	defer close(c.done)
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			c.err = err
			return
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			c.err = fmt.Errorf("bad server message %q: %w", b, err)
			return
		}
		select {
		case c.raw <- b:
		default:
		}
		if m["type"] == "events" { // several events in one frame: handed on one by one
			for _, e := range m["events"].([]any) {
				c.msgs <- e.(map[string]any)
			}
			continue
		}
		c.msgs <- m
	}
}

func (c *client) send(m any) {
	c.t.Helper()
	b, _ := json.Marshal(m)
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// next returns the next message of one of types (others are skipped).
func (c *client) next(types ...string) map[string]any {
	c.t.Helper()
	deadline := time.After(hubtest.Timeout(5 * time.Second))
	for {
		select {
		case m := <-c.msgs:
			for _, ty := range types {
				if m["type"] == ty {
					return m
				}
			}
		case <-c.done:
			c.t.Fatalf("socket closed while waiting for %v: %v", types, c.err)
		case <-deadline:
			c.t.Fatalf("no %v message within 5s", types)
		}
	}
}

// closed waits for the socket to close and returns the close code and reason.
func (c *client) closed() (int, string) {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(hubtest.Timeout(10 * time.Second)):
		c.t.Fatalf("socket still open after 10s")
	}
	var ce *websocket.CloseError
	if ok := asCloseError(c.err, &ce); ok {
		return ce.Code, ce.Text
	}
	return 0, fmt.Sprint(c.err)
}

func asCloseError(err error, ce **websocket.CloseError) bool {
	e, ok := err.(*websocket.CloseError)
	if ok {
		*ce = e
	}
	return ok
}

// publish puts data on the bus as its publisher would.
func (h *testHub) publish(topic string, data any) *hub.Event {
	h.t.Helper()
	ev, err := h.bus.Publish(topic, data)
	if err != nil {
		h.t.Fatalf("publish: %v", err)
	}
	return ev
}

func num(v any) uint64 {
	f, _ := v.(float64)
	return uint64(f)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// metricValue reads a counter or gauge.
func metricValue(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		return -1
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return -1
}
