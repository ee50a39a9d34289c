// Command displaybench measures the wall-display fan-out of a real hub
// (bus, displays service, Fiber websockets, PostgreSQL for tokens and
// status) against thousands of display sockets driven by a second process,
// so that the hub's memory is measured alone:
//
//	displaybench [-db URL] [-scenario all|latency|idle|cycles|steps] [flags]
//
//	latency  -displays 1000 screens on -communes communes' walls; the hub
//	         publishes -rate events/s for -duration (one writer per topic);
//	         every receipt's delay from the start of the publish is recorded
//	         (p50, p99, max), and with -outbox the write alone; also events
//	         per frame, the hub's CPU-seconds per 1,000 frames, delivered and
//	         coalesced shares, and screens ending on their wall's last state.
//	         -spread=false puts every screen on one commune's wall and
//	         publishes on one topic. -outbox writes through hub.WriteEvent on
//	         the pool, -tx in a BEGIN … COMMIT each; -busy N spins N
//	         processes meanwhile. The pool is warmed first.
//	steps    -steps 2000 outbox writes, each step timed (BEGIN, INSERT,
//	         pg_notify, COMMIT, NOTIFY delivery, SELECT, bus publish).
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
	"errors"
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
	"time"

	"github.com/communehub/communehub/backlog"
	"github.com/communehub/communehub/devices"
	"github.com/communehub/communehub/displays"
	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/meetings"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "burn" {
		burn()
	}
	if len(os.Args) > 1 && os.Args[1] == "clients" {
		if err := runClients(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "displaybench clients:", err)
			os.Exit(1)
		}
		return
	}
	o := benchOptions{}
	flag.StringVar(&o.db, "db", "postgres://postgres@127.0.0.1:5432/communehub_displaybench", "PostgreSQL URL")
	flag.StringVar(&o.scenario, "scenario", "all", "all, latency, idle, cycles or steps")
	flag.IntVar(&o.displays, "displays", 1000, "latency: screens")
	flag.IntVar(&o.communes, "communes", 50, "latency: communes the screens are spread over")
	flag.BoolVar(&o.spread, "spread", true, "latency: spread screens over communes (false: all on one wall)")
	flag.IntVar(&o.rate, "rate", 200, "latency: events per second")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "latency: how long to publish")
	flag.IntVar(&o.payload, "payload", 1500, "latency: bytes per event")
	flag.BoolVar(&o.outbox, "outbox", false, "latency: publish through the outbox (PostgreSQL) instead of the bus")
	flag.BoolVar(&o.tx, "tx", false, "latency -outbox: write each event in its own BEGIN … COMMIT (as callers with a change do) instead of one statement")
	flag.IntVar(&o.busy, "busy", 0, "latency: processes spinning on the CPU during the measured phase (a busy machine)")
	flag.IntVar(&o.steps, "steps", 2000, "steps: outbox writes timed step by step")
	flag.IntVar(&o.idle, "idle", 5000, "idle: screens")
	flag.IntVar(&o.cycles, "cycles", 10000, "cycles: connect/disconnect cycles")
	flag.StringVar(&o.heapProfile, "heapprofile", "", "idle: write a heap profile of the hub with the screens connected")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "latency: write a CPU profile of the hub while it publishes")
	flag.IntVar(&o.window, "window", 0, "latency: messages a screen that reports what it read may be behind (displays.Config.Window; 0: its default)")
	flag.IntVar(&o.readEvery, "readevery", 1, "latency: a screen reports what it read every this many messages, as the wall page does (0: never, so no flow control: the hub before it)")
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
	readBuf, window, readEvery                      int
	spread, outbox, tx                              bool
	busy, steps                                     int
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
	pool, err := hub.OpenPool(ctx, o.db, log, hub.Migrations, meetings.Migrations, displays.Migrations)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := hub.SeedUnits(ctx, pool); err != nil {
		return err
	}
	s, err := startServer(ctx, pool, log, o.readBuf, o.window)
	if err != nil {
		return err
	}
	defer s.stop()
	fmt.Printf("machine: %s, %d cores, %s; hub on %s; HTTP read buffer %d bytes per connection\n",
		cpuModel(), runtime.NumCPU(), runtime.Version(), s.addr, s.readBuf)

	need := 0
	if o.scenario == "steps" {
		return s.steps(o)
	}
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

func startServer(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger, readBuf, window int) (*server, error) {
	metrics := hub.NewMetrics()
	auth := hub.NewAuth(pool, hub.AuthConfig{}, log)
	sockets := hub.NewSockets()
	units := hub.NewUnits(pool)
	core := &hub.Core{Pool: pool, Auth: auth, Units: units, Metrics: metrics, Sockets: sockets,
		Ready: hub.NewReadiness(), Logger: log, Instance: "bench"}
	core.Topics = hub.NewTopics(&core.Guards)
	bus := hub.NewBus(hub.BusOptions{Logger: log, Metrics: metrics, Topics: core.Topics})
	core.Bus = bus
	// The topics walls show, declared by their real publishers, and the
	// bench's own. Meetings declares its own when its service is built (its
	// guards need the service), which is all the bench needs of it: it is
	// not started and keeps nothing in its data dir.
	if err := errors.Join(backlog.DeclareTopics(core.Topics), devices.DeclareTopics(core.Topics)); err != nil {
		return nil, err
	}
	if _, err := meetings.NewProceedings(meetings.ProceedingsConfig{DataDir: os.TempDir()}, core.Deps("meetings")); err != nil {
		return nil, err
	}
	if err := core.Topics.Declare(hub.TopicFamily{Pattern: "bench/+", Kind: "bench", Owner: "displaybench"},
		hub.TopicFamily{Pattern: "bench/steps/+", Kind: "bench_steps", Owner: "displaybench"}); err != nil {
		return nil, err
	}
	app := hub.NewApp(hub.AppOptions{Logger: log, Metrics: metrics})
	if readBuf > 0 {
		app.Server().ReadBufferSize = readBuf
	}
	api := core.Mount(app)
	walls, err := displays.New(displays.Config{Window: window}, core.Deps("displays"))
	if err != nil {
		return nil, err
	}
	walls.Mount(core.Routes(app, api))
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	follower := hub.NewOutboxFollower(pool, bus, log, metrics)
	for _, f := range []func(context.Context){follower.Run, func(ctx context.Context) { _ = walls.Run(ctx) }} {
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
	if !o.spread {
		// The one-topic case: every event to every screen.
		topics = []string{"commune/" + s.units[0] + "/kpi"}
	}
	via := "bus"
	if o.outbox {
		via = "outbox (hub.WriteEvent on the pool: one statement, its own transaction; NOTIFY, follower)"
		if o.tx {
			via = "outbox (BEGIN, hub.WriteEvent, COMMIT per event; NOTIFY, follower)"
		}
	}
	fmt.Printf("\n## latency: %d screens on %d walls, %d topics, %d events/s of %d bytes for %v through the %s\n",
		o.displays, len(walls), len(topics), o.rate, o.payload, o.duration, via)
	c, err := s.startClients("latency", tokens, "-readevery", strconv.Itoa(o.readEvery))
	if err != nil {
		return err
	}
	if _, err := c.expect("ready"); err != nil {
		return err
	}
	pad := strings.Repeat("x", max(0, o.payload-120))
	publish := func(topic, data string) error {
		if !o.outbox {
			_, err := s.bus.Publish(topic, json.RawMessage(data))
			return err
		}
		if o.tx {
			return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return hub.WriteEvent(ctx, tx, topic, json.RawMessage(data)) })
		}
		return hub.WriteEvent(ctx, s.pool, topic, json.RawMessage(data))
	}
	// Warm up: open the pool's connections (several at once, as the
	// follower and the writers use them) and prepare the statements, on a
	// topic no screen follows, so cold connections are not measured.
	if o.outbox {
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < 50; j++ {
					_ = publish("bench/warmup", `{"n":0}`)
				}
			}()
		}
		wg.Wait()
	}
	stopBusy := startBusy(o.busy)
	if o.cpuProfile != "" {
		if f, err := os.Create(o.cpuProfile); err == nil {
			_ = pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	coalesced0 := metricValue(s.metrics, "communehub_display_events_coalesced_total")
	cpu0 := cpuTime()
	writes := &histogram{}
	// One writer per topic, as independent callers would be: a slow write
	// delays only its own topic (whose writers PostgreSQL serialises
	// anyway), and a topic's events stay in order. Each event is stamped
	// when its tick comes, so time queued behind a slow write counts.
	var writers sync.WaitGroup
	var writeErr error
	var errOnce sync.Once
	queues := map[string]chan string{}
	for _, topic := range topics {
		q := make(chan string, 1024)
		queues[topic] = q
		writers.Add(1)
		go func() {
			defer writers.Done()
			for data := range q {
				start := time.Now()
				if err := publish(topic, data); err != nil {
					errOnce.Do(func() { writeErr = err })
				}
				writes.add(time.Since(start))
			}
		}()
	}
	interval := time.Second / time.Duration(o.rate)
	tick := time.NewTicker(interval)
	begin := time.Now()
	deadline := begin.Add(o.duration)
	published, expected := 0, 0
	last := map[string]int{} // wall → last n published to it
	for now := range tick.C {
		if !now.Before(deadline) {
			break
		}
		// Ticks a busy machine made the ticker drop are published now.
		for due := int(now.Sub(begin) / interval); published < due; {
			topic := topics[published%len(topics)]
			sc := strings.Split(topic, "/")[1]
			data := fmt.Sprintf(`{"unit":%q,"t":%d,"n":%d,"pad":%q}`, sc, time.Now().UnixNano(), published, pad)
			queues[topic] <- data
			last[sc] = published
			published++
			expected += walls[sc]
		}
	}
	tick.Stop()
	for _, q := range queues {
		close(q)
	}
	writers.Wait()
	if writeErr != nil {
		return writeErr
	}
	// The bus has the last event of every wall (through the follower) …
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		caught := 0
		for _, topic := range topics {
			n := strconv.Itoa(last[strings.Split(topic, "/")[1]])
			if ev := s.bus.Latest(topic); ev != nil && (bytes.Contains(ev.Data, []byte(`"n":`+n+`,`)) || bytes.Contains(ev.Data, []byte(`"n": `+n+`,`))) {
				caught++
			}
		}
		if caught == len(walls) {
			break
		}
	}
	time.Sleep(2 * time.Second) // sleep: … and the screens have it
	cpu := cpuTime() - cpu0
	stopBusy()
	coalesced := metricValue(s.metrics, "communehub_display_events_coalesced_total") - coalesced0
	lastJSON, _ := json.Marshal(last)
	c.say("stop " + string(lastJSON))
	res, err := c.expect("done")
	c.wait()
	if err != nil {
		return err
	}
	var r latencyResult
	if err := json.Unmarshal([]byte(res), &r); err != nil {
		return err
	}
	fmt.Printf("published %d events (%.0f/s); %d receipts expected, %d received (%.1f %%), %d coalesced away by the hub (%.1f %%), %d cut off\n",
		published, float64(published)/o.duration.Seconds(), expected, r.Received, 100*float64(r.Received)/float64(max(expected, 1)),
		int(coalesced), 100*coalesced/float64(max(expected, 1)), int(metricValue(s.metrics, "communehub_display_slow_disconnects_total")))
	fmt.Printf("publish → receipt: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n", r.P50, r.P90, r.P99, r.P999, r.Max)
	if o.outbox {
		fmt.Printf("outbox write alone: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n",
			writes.quantile(0.5), writes.quantile(0.99), writes.quantile(0.999), float64(writes.max.Load())/1e6)
	}
	fmt.Printf("frames with events: %d, %.2f events per frame; hub CPU %.2f s (%.4f CPU-s per 1,000 frames, %.4f per 1,000 published events)\n",
		r.Frames, float64(r.Received)/float64(max(r.Frames, 1)), cpu.Seconds(),
		cpu.Seconds()*1000/float64(max(r.Frames, 1)), cpu.Seconds()*1000/float64(max(published, 1)))
	fmt.Printf("screens ending on the last state published to their wall: %d/%d\n", r.Latest, r.Screens)
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
