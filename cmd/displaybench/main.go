// Command displaybench measures the wall-display fan-out of a real hub
// (bus, displays service, Fiber websockets, PostgreSQL for tokens and
// status) against thousands of display sockets driven by a second process,
// so that the hub's memory is measured alone:
//
//	displaybench [-db URL] [-scenario all|latency|idle|cycles] [flags]
//
//	latency  -displays 1000 screens on -communes communes' walls; the hub
//	         publishes -rate events/s for -duration; every receipt's delay
//	         from publish is recorded (p50, p99, max). -spread=false puts
//	         every screen on one commune's wall (each event to all screens).
//	idle     -idle 5000 screens connect, get their snapshot and stay; the
//	         hub's Go memory (heap + stacks) and RSS per screen are reported.
//	cycles   -cycles 10000 connect / hello / snapshot / close cycles; the
//	         hub's goroutines and heap before and after are reported.
//
// The database is created when missing (default
// postgres://postgres@127.0.0.1:5432/communehub_displaybench) and reused.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/communehub/communehub/displays"
	"github.com/communehub/communehub/hub"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "clients" {
		if err := runClients(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "displaybench clients:", err)
			os.Exit(1)
		}
		return
	}
	o := benchOptions{}
	flag.StringVar(&o.db, "db", "postgres://postgres@127.0.0.1:5432/communehub_displaybench", "PostgreSQL URL")
	flag.StringVar(&o.scenario, "scenario", "all", "all, latency, idle or cycles")
	flag.IntVar(&o.displays, "displays", 1000, "latency: screens")
	flag.IntVar(&o.communes, "communes", 50, "latency: communes the screens are spread over")
	flag.BoolVar(&o.spread, "spread", true, "latency: spread screens over communes (false: all on one wall)")
	flag.IntVar(&o.rate, "rate", 200, "latency: events per second")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "latency: how long to publish")
	flag.IntVar(&o.payload, "payload", 1500, "latency: bytes per event")
	flag.BoolVar(&o.outbox, "outbox", false, "latency: publish through the outbox (PostgreSQL) instead of the bus")
	flag.IntVar(&o.idle, "idle", 5000, "idle: screens")
	flag.IntVar(&o.cycles, "cycles", 10000, "cycles: connect/disconnect cycles")
	flag.StringVar(&o.heapProfile, "heapprofile", "", "idle: write a heap profile of the hub with the screens connected")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "latency: write a CPU profile of the hub while it publishes")
	flag.IntVar(&o.readBuf, "readbuf", 0, "what-if: the HTTP server's per-connection read buffer in bytes (0: the hub's, hub.NewApp)")
	flag.Parse()
	if o.heapProfile != "" {
		runtime.MemProfileRate = 1 // every allocation, for an exact per-screen account
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "displaybench:", err)
		os.Exit(1)
	}
}

type benchOptions struct {
	db, scenario, heapProfile, cpuProfile           string
	displays, communes, rate, payload, idle, cycles int
	readBuf                                         int
	spread, outbox                                  bool
	duration                                        time.Duration
}

// server is the hub under test.
type server struct {
	pool    *pgxpool.Pool
	bus     *hub.Bus
	walls   *displays.Service
	addr    string
	token   string
	units   []string // communes of province 11
	tokens  []string // display tokens, commune layout, spread over units
	stop    func()
	metrics *hub.Metrics
	readBuf int
}

func run(o benchOptions) error {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := hub.EnsureDatabase(ctx, o.db); err != nil {
		return err
	}
	pool, err := hub.OpenPool(ctx, o.db, log, hub.Migrations, displays.Migrations)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := hub.SeedUnits(ctx, pool); err != nil {
		return err
	}
	s, err := startServer(ctx, pool, log, o.readBuf)
	if err != nil {
		return err
	}
	defer s.stop()
	fmt.Printf("machine: %s, %d cores, %s; hub on %s; HTTP read buffer %d bytes per connection\n",
		cpuModel(), runtime.NumCPU(), runtime.Version(), s.addr, s.readBuf)

	need := 0
	if o.scenario == "all" || o.scenario == "latency" {
		need = max(need, o.displays)
	}
	if o.scenario == "all" || o.scenario == "idle" {
		need = max(need, o.idle)
	}
	if err := s.ensureDisplays(ctx, need, o.communes); err != nil {
		return err
	}
	if o.scenario == "all" || o.scenario == "cycles" {
		if err := s.cycles(o); err != nil {
			return err
		}
	}
	if o.scenario == "all" || o.scenario == "idle" {
		if err := s.idle(o); err != nil {
			return err
		}
	}
	if o.scenario == "all" || o.scenario == "latency" {
		if err := s.latency(o); err != nil {
			return err
		}
	}
	return nil
}

func startServer(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger, readBuf int) (*server, error) {
	metrics := hub.NewMetrics()
	bus := hub.NewBus(hub.BusOptions{Logger: log, Metrics: metrics})
	auth := hub.NewAuth(pool, hub.AuthConfig{}, log)
	sockets := hub.NewSockets()
	units := hub.NewUnits(pool)
	core := &hub.Core{Pool: pool, Bus: bus, Auth: auth, Units: units, Metrics: metrics, Sockets: sockets,
		Ready: hub.NewReadiness(), Logger: log}
	app := hub.NewApp(hub.AppOptions{Logger: log, Metrics: metrics})
	if readBuf > 0 {
		app.Server().ReadBufferSize = readBuf
	}
	api := core.Mount(app)
	walls := displays.New(displays.Options{Pool: pool, Bus: bus, Auth: auth, Units: units, Sockets: sockets,
		Metrics: metrics, Logger: log, Instance: "bench"})
	walls.Mount(app, api)
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	follower := hub.NewOutboxFollower(pool, bus, log, metrics)
	for _, f := range []func(context.Context){follower.Run, walls.Run, walls.RunStatus} {
		wg.Add(1)
		go func() { defer wg.Done(); f(wctx) }()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		return nil, err
	}
	go func() { _ = app.Listener(ln) }()
	// Screens connecting before the follower has published the latest
	// outbox events of a previous run would get them as live events.
	var maxID int64
	_ = pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM outbox`).Scan(&maxID)
	for deadline := time.Now().Add(30 * time.Second); follower.LastID() < maxID && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	_, token, err := auth.CreateToken(ctx, "displaybench", hub.RoleAdmin, "")
	if err != nil {
		cancel()
		return nil, err
	}
	list, err := units.List(ctx, "11")
	if err != nil {
		cancel()
		return nil, err
	}
	s := &server{pool: pool, bus: bus, walls: walls, addr: ln.Addr().String(), token: token, metrics: metrics,
		readBuf: app.Server().ReadBufferSize}
	for _, u := range list {
		s.units = append(s.units, u.Code)
	}
	s.stop = func() {
		sockets.CloseAll(hub.CloseGoingAway, "bench over", 3*time.Second)
		_ = app.ShutdownWithTimeout(3 * time.Second)
		cancel()
		wg.Wait()
	}
	return s, nil
}

// ensureDisplays creates n screens (commune layout, internal) through the
// API, spread over the first communes of province 11, and keeps their
// tokens in a temporary file so that a rerun on the same database reuses
// them.
func (s *server) ensureDisplays(ctx context.Context, n, communes int) error {
	communes = min(communes, len(s.units))
	path := os.TempDir() + "/displaybench-tokens-" + strconv.Itoa(communes) + ".json"
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &s.tokens)
	}
	if len(s.tokens) > 0 {
		// Check the file belongs to this database.
		var ok bool
		_ = s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM displays WHERE token_hash = sha256($1::bytea) AND revoked_at IS NULL)`, []byte(s.tokens[0])).Scan(&ok)
		if !ok {
			s.tokens = nil
		}
	}
	start := time.Now()
	var mu sync.Mutex
	var firstErr error
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				tok, err := s.createDisplay(fmt.Sprintf("bench %d", i), s.units[i%communes])
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				s.tokens = append(s.tokens, tok)
				mu.Unlock()
			}
		}()
	}
	for i := len(s.tokens); i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	b, _ := json.Marshal(s.tokens)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	if n > 0 {
		fmt.Printf("%d screens ready (%v)\n", len(s.tokens), time.Since(start).Round(time.Millisecond))
	}
	return nil
}

func (s *server) createDisplay(name, scope string) (string, error) {
	body, _ := json.Marshal(map[string]any{"name": name, "scope": scope, "layout": "commune", "classification": "internal"})
	req, _ := http.NewRequest("POST", "http://"+s.addr+"/api/v1/displays", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 201 {
		return "", fmt.Errorf("create display: %d %v", resp.StatusCode, err)
	}
	return out.Token, nil
}

// scopes returns the commune each token's screen shows.
func (s *server) scopes(ctx context.Context, tokens []string) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT encode(token_hash, 'hex'), scope FROM displays WHERE revoked_at IS NULL`)
	if err != nil {
		return nil, err
	}
	byHash := map[string]string{}
	for rows.Next() {
		var h, scope string
		if err := rows.Scan(&h, &scope); err != nil {
			return nil, err
		}
		byHash[h] = scope
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, t := range tokens {
		out[t] = byHash[sha256hex(t)]
	}
	return out, nil
}

// client is the load process, started by the server for one scenario.
type client struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	file   string
}

// wait reaps the load process once its last line was read (Wait closes
// the pipes, so it must not run earlier).
func (c *client) wait() {
	_ = c.stdin.Close()
	_ = c.cmd.Wait()
	os.Remove(c.file)
}

func (s *server) startClients(mode string, tokens []string, extra ...string) (*client, error) {
	f, err := os.CreateTemp("", "displaybench-clients-*.json")
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(tokens)
	_, _ = f.Write(b)
	f.Close()
	args := append([]string{"clients", "-mode", mode, "-url", "ws://" + s.addr + "/ws/display", "-tokens", f.Name()}, extra...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &client{cmd: cmd, stdin: in, stdout: bufio.NewReader(out), file: f.Name()}
	return c, nil
}

// expect reads the client's next line and checks its first word.
func (c *client) expect(word string) (string, error) {
	line, err := c.stdout.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("clients: %w (wanted %q)", err, word)
	}
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, word) {
		return "", fmt.Errorf("clients said %q, wanted %q", line, word)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, word)), nil
}

func (c *client) say(word string) { _, _ = io.WriteString(c.stdin, word+"\n") }

// memory is the hub process's memory at one moment, after a GC.
type memory struct {
	heap, stack, rss uint64
	goroutines       int
}

func measure() memory {
	for i := 0; i < 6; i++ { // stacks shrink by half per GC
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memory{heap: ms.HeapInuse, stack: ms.StackInuse, rss: rss(), goroutines: runtime.NumGoroutine()}
}

func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func (s *server) waitSockets(n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for s.sockets() != n {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d display sockets open, wanted %d", s.sockets(), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

func (s *server) sockets() int {
	mfs, err := s.metrics.Registry.Gather()
	if err != nil {
		return -1
	}
	for _, mf := range mfs {
		if mf.GetName() == "communehub_display_sockets" {
			return int(mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	return -1
}

func (s *server) idle(o benchOptions) error {
	fmt.Printf("\n## idle: %d screens connected and quiet\n", o.idle)
	before := measure()
	c, err := s.startClients("idle", s.tokens[:o.idle])
	if err != nil {
		return err
	}
	start := time.Now()
	if _, err := c.expect("ready"); err != nil {
		return err
	}
	connected := time.Since(start)
	if err := s.waitSockets(o.idle, 30*time.Second); err != nil {
		return err
	}
	time.Sleep(20 * time.Second) // a heartbeat round and a status write go by
	after := measure()
	if o.heapProfile != "" {
		if f, err := os.Create(o.heapProfile); err == nil {
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	c.say("stop")
	_, _ = c.expect("done")
	c.wait()
	n := uint64(o.idle)
	goMem := (after.heap + after.stack) - (before.heap + before.stack)
	fmt.Printf("all connected with their snapshot in %v\n", connected.Round(time.Millisecond))
	fmt.Printf("hub Go memory (heap in use + stacks): %.1f MB → %.1f MB: %.1f KB per screen (heap %.1f KB, stacks %.1f KB)\n",
		mb(before.heap+before.stack), mb(after.heap+after.stack), float64(goMem)/float64(n)/1024,
		(float64(after.heap)-float64(before.heap))/float64(n)/1024, (float64(after.stack)-float64(before.stack))/float64(n)/1024)
	fmt.Printf("hub RSS: %.1f MB → %.1f MB: %.1f KB per screen\n", mb(before.rss), mb(after.rss), float64(after.rss-before.rss)/float64(n)/1024)
	fmt.Printf("goroutines: %d → %d (%.2f per screen)\n", before.goroutines, after.goroutines, float64(after.goroutines-before.goroutines)/float64(n))
	return s.waitSockets(0, 30*time.Second)
}

func (s *server) cycles(o benchOptions) error {
	fmt.Printf("\n## cycles: %d connect / hello / snapshot / close\n", o.cycles)
	// Warm up once so that pools and caches exist before the baseline.
	if c, err := s.startClients("cycles", s.tokens[:min(len(s.tokens), 50)], "-cycles", "200"); err == nil {
		_, _ = c.expect("done")
		c.wait()
	}
	_ = s.waitSockets(0, 30*time.Second)
	time.Sleep(time.Second)
	before := measure()
	c, err := s.startClients("cycles", s.tokens[:min(len(s.tokens), 50)], "-cycles", strconv.Itoa(o.cycles))
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := c.expect("done")
	c.wait()
	if err != nil {
		return err
	}
	took := time.Since(start)
	if err := s.waitSockets(0, 30*time.Second); err != nil {
		return err
	}
	// Handlers return, status rows are written, and fasthttp's idle workers
	// (kept 10 s) exit.
	time.Sleep(12 * time.Second)
	after := measure()
	fmt.Printf("%s in %v (%.0f cycles/s)\n", res, took.Round(time.Millisecond), float64(o.cycles)/took.Seconds())
	fmt.Printf("goroutines: %d before, %d after\n", before.goroutines, after.goroutines)
	fmt.Printf("heap in use: %.2f MB before, %.2f MB after (%+.2f MB)\n", mb(before.heap), mb(after.heap), (float64(after.heap)-float64(before.heap))/1e6)
	return nil
}

func (s *server) latency(o benchOptions) error {
	ctx := context.Background()
	tokens := s.tokens[:o.displays]
	scopes, err := s.scopes(ctx, tokens)
	if err != nil {
		return err
	}
	if !o.spread {
		// Every screen on one wall: switch them all to the first commune.
		if _, err := s.pool.Exec(ctx, `UPDATE displays SET scope=$1 WHERE revoked_at IS NULL`, s.units[0]); err != nil {
			return err
		}
		orig := map[string]string{}
		for t, sc := range scopes {
			orig[t] = sc
			scopes[t] = s.units[0]
		}
		defer func() {
			b := &pgx.Batch{}
			for t, sc := range orig {
				b.Queue(`UPDATE displays SET scope=$2 WHERE token_hash=sha256($1::bytea)`, []byte(t), sc)
			}
			_ = s.pool.SendBatch(ctx, b).Close()
		}()
	}
	walls := map[string]int{}
	for _, sc := range scopes {
		walls[sc]++
	}
	var topics []string
	for sc := range walls {
		for _, k := range []string{"kpi", "backlog", "devices", "meetings"} {
			topics = append(topics, "commune/"+sc+"/"+k)
		}
	}
	via := "bus"
	if o.outbox {
		via = "outbox (PostgreSQL transaction + NOTIFY + follower)"
	}
	fmt.Printf("\n## latency: %d screens on %d walls, %d events/s of %d bytes for %v through the %s\n",
		o.displays, len(walls), o.rate, o.payload, o.duration, via)
	c, err := s.startClients("latency", tokens)
	if err != nil {
		return err
	}
	if _, err := c.expect("ready"); err != nil {
		return err
	}
	if o.cpuProfile != "" {
		if f, err := os.Create(o.cpuProfile); err == nil {
			_ = pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	cpu0, sent0 := processCPU(), metricValue(s.metrics, "communehub_display_messages_sent_total")
	pad := strings.Repeat("x", max(0, o.payload-120))
	interval := time.Second / time.Duration(o.rate)
	tick := time.NewTicker(interval)
	deadline := time.Now().Add(o.duration)
	published, expected := 0, 0
	for time.Now().Before(deadline) {
		<-tick.C
		topic := topics[published%len(topics)]
		sc := strings.Split(topic, "/")[1]
		data := fmt.Sprintf(`{"unit":%q,"t":%d,"n":%d,"pad":%q}`, sc, time.Now().UnixNano(), published, pad)
		if o.outbox {
			err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return hub.WriteEvent(ctx, tx, topic, json.RawMessage(data)) })
		} else {
			_, err = s.bus.Publish(topic, json.RawMessage(data))
		}
		if err != nil {
			return err
		}
		published++
		expected += walls[sc]
	}
	tick.Stop()
	time.Sleep(2 * time.Second)
	cpu, frames := processCPU()-cpu0, metricValue(s.metrics, "communehub_display_messages_sent_total")-sent0
	c.say("stop")
	res, err := c.expect("done")
	c.wait()
	if err != nil {
		return err
	}
	var r latencyResult
	if err := json.Unmarshal([]byte(res), &r); err != nil {
		return err
	}
	fmt.Printf("published %d events; %d receipts expected, %d received (%d coalesced away by the hub for screens that were behind, %d cut off)\n",
		published, expected, r.Received, int(metricValue(s.metrics, "communehub_display_events_coalesced_total")),
		int(metricValue(s.metrics, "communehub_display_slow_disconnects_total")))
	fmt.Printf("hub CPU %.2f s for %.0f frames: %.4f CPU-s per 1,000 frames, %.2f events per frame\n",
		cpu, frames, cpu/max(frames, 1)*1000, float64(r.Received)/max(frames, 1))
	fmt.Printf("publish → receipt: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n", r.P50, r.P90, r.P99, r.P999, r.Max)
	fmt.Printf("state shown (last event of a topic in a frame, %d): p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", r.Shown, r.ShownP50, r.ShownP99, r.ShownMax)
	return s.waitSockets(0, 30*time.Second)
}

func metricValue(m *hub.Metrics, name string) float64 {
	mfs, _ := m.Registry.Gather()
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, x := range mf.GetMetric() {
				total += x.GetCounter().GetValue()
			}
		}
	}
	return total
}

func mb(b uint64) float64 { return float64(b) / 1e6 }

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "?"
}

// processCPU is the user + system CPU time of this process (the hub) in seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
