package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/communehub/communehub/meetings/sfu"
	"github.com/communehub/communehub/meetings/sfu/sfutest"
)

func main() {
	serve := flag.String("serve", "", "run the SFU relay on this address (child mode)")
	relay := flag.String("relay", "", "use a running relay (host:port) and its pid (-pid) instead of spawning one")
	pid := flag.Int("pid", 0, "pid of the relay given with -relay, for its CPU time")
	scenario := flag.String("scenario", "meeting", "meeting, fanout or join")
	n := flag.Int("n", 10, "participants (meeting), subscribers (fanout) or joins (join)")
	bitrate := flag.Int("bitrate", 300_000, "video bit/s per publisher (meeting: both layers together)")
	warmup := flag.Duration("warmup", 5*time.Second, "time after everyone receives before measuring")
	duration := flag.Duration("duration", 20*time.Second, "measurement window")
	flag.Parse()
	if *serve != "" {
		if err := runRelay(*serve); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	addr, childPid := *relay, *pid
	if addr == "" {
		var kill func()
		var err error
		addr, childPid, kill, err = spawnRelay()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer kill()
	}
	ref, err := hostReference()
	if err != nil {
		fmt.Fprintln(os.Stderr, "meetbench: host reference:", err)
		os.Exit(1)
	}
	fmt.Println(ref)
	b := &bench{addr: addr, pid: childPid, warmup: *warmup, duration: *duration}
	switch *scenario {
	case "meeting":
		err = b.meeting(ctx, *n, *bitrate)
	case "fanout":
		err = b.fanout(ctx, *n, *bitrate)
	case "join":
		err = b.join(ctx, *n)
	default:
		err = fmt.Errorf("unknown scenario %q (meeting, fanout, join)", *scenario)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "meetbench:", err)
		os.Exit(1)
	}
}

// runRelay is the child: an SFU on loopback with a bare websocket relay
// and a stats endpoint. It prints its address on the first line.
func runRelay(addr string) error {
	e, err := sfu.New(sfu.Config{ListenIP: "127.0.0.1", Loopback: true}, sfu.Hooks{}, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer e.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", sfutest.Relay(e))
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		st, _ := e.Stats(r.URL.Query().Get("room"))
		_ = json.NewEncoder(w).Encode(st)
	})
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	fmt.Println(ln.Addr().String())
	return http.Serve(ln, mux)
}

func spawnRelay() (addr string, pid int, kill func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return "", 0, nil, err
	}
	cmd := exec.Command(self, "-serve", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		return "", 0, nil, fmt.Errorf("relay did not start: %w", err)
	}
	go io.Copy(io.Discard, out)
	return strings.TrimSpace(line), cmd.Process.Pid, func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }, nil
}

type bench struct {
	addr             string
	pid              int
	warmup, duration time.Duration
}

func (b *bench) url(room, name string) string {
	return "ws://" + b.addr + "/ws?room=" + room + "&name=" + name
}

// cpuSeconds returns the user+system CPU time of the relay process.
func (b *bench) cpuSeconds() (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", b.pid))
	if err != nil {
		return 0, err
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100, nil // USER_HZ is 100 on Linux
}

func (b *bench) stats(room string) (sfu.RoomStats, error) {
	var st sfu.RoomStats
	resp, err := http.Get("http://" + b.addr + "/stats?room=" + room)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// window measures the relay's CPU and forwarded packets over the
// measurement window.
func (b *bench) window(ctx context.Context, room string) (cores, pps float64, err error) {
	st0, err := b.stats(room)
	if err != nil {
		return 0, 0, err
	}
	c0, err := b.cpuSeconds()
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	case <-time.After(b.duration):
	}
	c1, _ := b.cpuSeconds()
	el := time.Since(t0).Seconds()
	st1, err := b.stats(room)
	if err != nil {
		return 0, 0, err
	}
	return (c1 - c0) / el, float64(st1.ForwardedPackets-st0.ForwardedPackets) / el, nil
}

type bots struct {
	mu    sync.Mutex
	list  []*sfutest.Bot
	stops []func()
}

func (bs *bots) add(b *sfutest.Bot, stop func()) {
	bs.mu.Lock()
	bs.list = append(bs.list, b)
	bs.stops = append(bs.stops, stop)
	bs.mu.Unlock()
}

func (bs *bots) close() {
	for i, b := range bs.list {
		b.Close()
		bs.stops[i]()
	}
}

func waitAll(ctx context.Context, d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v", d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// dial connects a bot named cfg.Name to room; bs closes it.
func (b *bench) dial(ctx context.Context, bs *bots, room string, cfg sfutest.Config) (*sfutest.Bot, error) {
	bot, stop, err := sfutest.Dial(ctx, b.url(room, cfg.Name), cfg)
	if err != nil {
		return nil, err
	}
	bs.add(bot, stop)
	return bot, nil
}

// publish dials a bot and starts its media.
func (b *bench) publish(ctx context.Context, bs *bots, room string, cfg sfutest.Config) (*sfutest.Bot, error) {
	bot, err := b.dial(ctx, bs, room, cfg)
	if err != nil {
		return nil, err
	}
	return bot, bot.Start()
}

func (b *bench) meeting(ctx context.Context, n, bitrate int) error {
	var bs bots
	defer bs.close()
	for i := range n {
		if _, err := b.publish(ctx, &bs, "meeting", sfutest.Config{
			Name: fmt.Sprint("p", i), Audio: true, Video: true, Simulcast: true, VideoBitrate: bitrate * 4 / 5, FPS: 15,
			AudioLevel: 60, CountOnly: false, AbsSendTime: true, TransportCC: true,
		}); err != nil {
			return err
		}
	}
	err := waitAll(ctx, 60*time.Second, func() bool {
		for _, bot := range bs.list {
			v := 0
			for _, t := range bot.Tracks() {
				if t.Kind == "video" && t.Packets.Load() > 0 {
					v++
				}
			}
			if v < n-1 {
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("not everyone receives everyone: %w", err)
	}
	time.Sleep(b.warmup)
	lat0 := map[*sfutest.Bot]int{}
	for _, bot := range bs.list {
		lat0[bot] = len(bot.Latencies())
	}
	if p := os.Getenv("MEETBENCH_PROFILE"); p != "" {
		go b.profile(p)
	}
	cores, pps, err := b.window(ctx, "meeting")
	if err != nil {
		return err
	}
	var lat []time.Duration
	for _, bot := range bs.list {
		l := bot.Latencies()
		lat = append(lat, l[min(lat0[bot], len(l)):]...)
	}
	slices.Sort(lat)
	q := func(f float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(float64(len(lat)-1)*f)].Round(10 * time.Microsecond)
	}
	if st, err := b.stats("meeting"); err == nil {
		levels := map[string]int{}
		var drops, nacks uint64
		for _, p := range st.Participants {
			levels[p.Level]++
			drops += p.Dropped
			for _, s := range p.Subscribed {
				nacks += s.NACKs
			}
		}
		fmt.Printf("levels %v, dropped %d, nacked %d\n", levels, drops, nacks)
	}
	fmt.Printf("meeting: %d participants, each audio + %d kbit/s VP8 (2 layers): SFU CPU %.1f %% of one core, %.0f packets/s forwarded, forwarding latency p50 %v p99 %v (%d samples)\n",
		n, bitrate/1000, cores*100, pps, q(.5), q(.99), len(lat))
	return nil
}

func (b *bench) fanout(ctx context.Context, subs, bitrate int) error {
	var bs bots
	defer bs.close()
	if _, err := b.publish(ctx, &bs, "fanout", sfutest.Config{Name: "pub", Audio: true, Video: true, VideoBitrate: bitrate, FPS: 30, TransportCC: true}); err != nil {
		return err
	}
	var receivers []*sfutest.Bot
	for i := range subs {
		bot, err := b.dial(ctx, &bs, "fanout", sfutest.Config{Name: fmt.Sprint("s", i), CountOnly: true, Lean: true, AbsSendTime: true})
		if err != nil {
			return err
		}
		receivers = append(receivers, bot)
		time.Sleep(20 * time.Millisecond) // pace joins
	}
	err := waitAll(ctx, 120*time.Second, func() bool {
		for _, r := range receivers {
			if r.Received("video") == 0 {
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("not every subscriber receives: %w", err)
	}
	time.Sleep(b.warmup)
	var got0 uint64
	for _, r := range receivers {
		got0 += r.Received("video") + r.Received("audio")
	}
	if p := os.Getenv("MEETBENCH_PROFILE"); p != "" {
		go b.profile(p)
	}
	cores, pps, err := b.window(ctx, "fanout")
	if err != nil {
		return err
	}
	var got1 uint64
	for _, r := range receivers {
		got1 += r.Received("video") + r.Received("audio")
	}
	recv := float64(got1-got0) / b.duration.Seconds()
	fmt.Printf("fanout: 1 publisher (audio + %d kbit/s VP8) → %d subscribers: %.0f packets/s forwarded, %.0f received by the bots, SFU CPU %.2f cores → %.0f forwarded packets/s per core\n",
		bitrate/1000, subs, pps, recv, cores, pps/cores)
	return nil
}

func (b *bench) join(ctx context.Context, n int) error {
	var bs bots
	defer bs.close()
	if _, err := b.publish(ctx, &bs, "join", sfutest.Config{Name: "pub", Audio: true, Video: true, Simulcast: true, FPS: 15, TransportCC: true}); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	var times []time.Duration
	for i := range n {
		start := time.Now()
		bot, stop, err := sfutest.Dial(ctx, b.url("join", fmt.Sprint("j", i)), sfutest.Config{Name: fmt.Sprint("j", i), AbsSendTime: true})
		if err != nil {
			return err
		}
		if err := waitAll(ctx, 10*time.Second, func() bool { _, ok := bot.FirstFrame(); return ok }); err != nil {
			return fmt.Errorf("join %d: no frame: %w", i, err)
		}
		ff, _ := bot.FirstFrame()
		times = append(times, ff+bot.StartedAt().Sub(start))
		bot.Close()
		stop()
		time.Sleep(300 * time.Millisecond)
	}
	slices.Sort(times)
	fmt.Printf("join: %d joins to a running meeting, dial → first complete remote keyframe: p50 %v, p95 %v, max %v\n",
		n, times[len(times)/2].Round(time.Millisecond), times[len(times)*95/100].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond))
	return nil
}

// profile saves a CPU profile of the relay over the measurement window
// (MEETBENCH_PROFILE=file).
func (b *bench) profile(path string) {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", b.addr, int(b.duration.Seconds())-1))
	if err != nil {
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}
