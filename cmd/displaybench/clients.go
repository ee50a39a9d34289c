package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
)

func sha256hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// The load process: it drives the display sockets and reports on stdout
// ("ready", then "done …" after the server says "stop" on stdin).
func runClients(args []string) error {
	fs := flag.NewFlagSet("clients", flag.ContinueOnError)
	mode := fs.String("mode", "idle", "idle, latency or cycles")
	url := fs.String("url", "", "ws://…/ws/display")
	tokensFile := fs.String("tokens", "", "JSON array of display tokens")
	cycles := fs.Int("cycles", 10000, "cycles mode: connect/disconnect cycles")
	readEvery := fs.Int("readevery", 1, "latency mode: report what was read every this many messages (0: never)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := os.ReadFile(*tokensFile)
	if err != nil {
		return err
	}
	var tokens []string
	if err := json.Unmarshal(b, &tokens); err != nil {
		return err
	}
	switch *mode {
	case "cycles":
		return runCycles(*url, tokens, *cycles)
	case "idle", "latency":
		return runScreens(*url, tokens, *mode == "latency", *readEvery)
	}
	return fmt.Errorf("unknown mode %q", *mode)
}

var dialer = websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 2048, WriteBufferSize: 512}

// connect opens one screen's socket and waits for its first snapshot; it
// says how many messages it read up to and including the snapshot, for
// the screen's read reports.
func connect(url, token string) (*websocket.Conn, int, error) {
	var c *websocket.Conn
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if c, _, err = dialer.Dial(url, nil); err == nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	if err != nil {
		return nil, 0, err
	}
	hello, _ := json.Marshal(map[string]any{"type": "hello", "token": token})
	if err := c.WriteMessage(websocket.TextMessage, hello); err != nil {
		c.Close()
		return nil, 0, err
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for n := 1; ; n++ {
		_, m, err := c.ReadMessage()
		if err != nil {
			c.Close()
			return nil, 0, err
		}
		if bytes.HasPrefix(m, []byte(`{"type":"snapshot"`)) {
			_ = c.SetReadDeadline(time.Time{})
			return c, n, nil
		}
	}
}

// histogram counts latencies in 10 µs buckets up to 10 s.
type histogram struct {
	buckets [1_000_000]uint32
	over    atomic.Uint64
	count   atomic.Uint64
	max     atomic.Int64
}

func (h *histogram) add(d time.Duration) {
	h.count.Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			break
		}
	}
	i := int(d / (10 * time.Microsecond))
	if i < 0 {
		i = 0
	}
	if i >= len(h.buckets) {
		h.over.Add(1)
		return
	}
	atomic.AddUint32(&h.buckets[i], 1)
}

func (h *histogram) quantile(q float64) float64 {
	total := h.count.Load()
	want := uint64(q * float64(total))
	var seen uint64
	for i := range h.buckets {
		seen += uint64(atomic.LoadUint32(&h.buckets[i]))
		if seen > want {
			return float64(i+1) * 0.01 // ms, upper edge of the bucket
		}
	}
	return 10000
}

type latencyResult struct {
	Received                 uint64
	Frames                   uint64 // websocket messages that carried events
	P50, P90, P99, P999, Max float64
	Screens, Latest          int // screens, and those whose last state is the last one published to their wall
	// Shown: the same for the state each screen shows, the last event of
	// each topic in a frame (an events frame's earlier ones are replaced
	// at once on the page).
	Shown                        uint64
	ShownP50, ShownP99, ShownMax float64
}

func runScreens(url string, tokens []string, measure bool, readEvery int) error {
	conns := make([]*websocket.Conn, len(tokens))
	counts := make([]int, len(tokens)) // messages each connect read
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	for i, t := range tokens {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, n, err := connect(url, t)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			conns[i], counts[i] = c, n
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	hist, shown := &histogram{}, &histogram{}
	var frames atomic.Uint64
	// Per screen: its wall (the payload's "unit") and the largest "n" it
	// received, to check it ends on the last state published to its wall.
	units := make([]string, len(conns))
	lastN := make([]int64, len(conns))
	var readers sync.WaitGroup
	wmu := make([]sync.Mutex, len(conns)) // a socket's writers: its reader's reports and the heartbeat
	for ci, c := range conns {
		lastN[ci] = -1
		readers.Add(1)
		go func() {
			defer readers.Done()
			received := counts[ci] // read by connect, up to the snapshot
			for {
				_, m, err := c.ReadMessage()
				if err != nil {
					return
				}
				// As the wall page does: every few messages, how many in all
				// (the hub's flow control, docs/display-protocol.md "read").
				if received++; readEvery > 0 && received%readEvery == 0 {
					wmu[ci].Lock()
					_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
					_ = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"read","n":`+strconv.Itoa(received)+`}`))
					wmu[ci].Unlock()
				}
				// An event, or several in one events frame: each payload
				// carries its publish time as "t".
				if measure && bytes.HasPrefix(m, []byte(`{"type":"event`)) {
					now := time.Now()
					frames.Add(1)
					if n := maxInt(m, `"n":`); n > lastN[ci] {
						lastN[ci] = n
						units[ci] = lastString(m, `"unit":`)
					}
					last := map[string]time.Duration{} // topic → latency of its last event in the frame
					for rest := m; ; {
						topic := ""
						if i := bytes.Index(rest, []byte(`"topic":"`)); i >= 0 {
							if j := bytes.IndexByte(rest[i+9:], '"'); j >= 0 {
								topic = string(rest[i+9 : i+9+j])
							}
						}
						i := bytes.Index(rest, []byte(`"t":`))
						if i < 0 {
							break
						}
						j := i + 4
						for j < len(rest) && rest[j] == ' ' { // jsonb (the outbox) writes "t": 123
							j++
						}
						k := j
						for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
							k++
						}
						if ns, err := strconv.ParseInt(string(rest[j:k]), 10, 64); err == nil {
							hist.add(now.Sub(time.Unix(0, ns)))
							last[topic] = now.Sub(time.Unix(0, ns))
						}
						rest = rest[k:]
					}
					for _, d := range last {
						shown.add(d)
					}
				}
			}
		}()
	}
	// One goroutine is every socket's heartbeat (and only writer).
	stopPing := make(chan struct{})
	go func() {
		ping := []byte(`{"type":"ping"}`)
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopPing:
				return
			case <-t.C:
				for i, c := range conns {
					wmu[i].Lock()
					_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
					_ = c.WriteMessage(websocket.TextMessage, ping)
					wmu[i].Unlock()
				}
			}
		}
	}()
	fmt.Println("ready")
	final := waitStop()
	close(stopPing)
	for _, c := range conns {
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "bench over"), time.Now().Add(time.Second))
		c.Close()
	}
	readers.Wait()
	if !measure {
		fmt.Println("done")
		return nil
	}
	var want map[string]int64
	_ = json.Unmarshal([]byte(final), &want)
	latest := 0
	for i := range conns {
		if n, ok := want[units[i]]; ok && n == lastN[i] {
			latest++
		}
	}
	r := latencyResult{Received: hist.count.Load(), Frames: frames.Load(), Screens: len(conns), Latest: latest, P50: hist.quantile(0.5), P90: hist.quantile(0.9), P99: hist.quantile(0.99),
		P999: hist.quantile(0.999), Max: float64(hist.max.Load()) / 1e6,
		Shown: shown.count.Load(), ShownP50: shown.quantile(0.5), ShownP99: shown.quantile(0.99), ShownMax: float64(shown.max.Load()) / 1e6}
	b, _ := json.Marshal(r)
	fmt.Println("done " + string(b))
	return nil
}

func runCycles(url string, tokens []string, n int) error {
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				c, _, err := connect(url, tokens[int(i)%len(tokens)])
				if err != nil {
					failed.Add(1)
					continue
				}
				_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "cycle"), time.Now().Add(time.Second))
				c.Close()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("done %d cycles, %d failed\n", n, failed.Load())
	return nil
}

// waitStop waits for the server's "stop" line and returns what follows
// it (in latency mode, the last "n" published to each wall, as JSON).
func waitStop() string {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "stop"); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// maxInt returns the largest number after key in m (a frame of several
// events holds several; jsonb writes a space after the colon), or -1.
func maxInt(m []byte, key string) int64 {
	best := int64(-1)
	for rest := m; ; {
		i := bytes.Index(rest, []byte(key))
		if i < 0 {
			return best
		}
		j := i + len(key)
		for j < len(rest) && rest[j] == ' ' {
			j++
		}
		k := j
		for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
			k++
		}
		if n, err := strconv.ParseInt(string(rest[j:k]), 10, 64); err == nil && n > best {
			best = n
		}
		rest = rest[k:]
	}
}

// lastString returns the JSON string after the last key in m.
func lastString(m []byte, key string) string {
	i := bytes.LastIndex(m, []byte(key))
	if i < 0 {
		return ""
	}
	rest := bytes.TrimLeft(m[i+len(key):], " ")
	if len(rest) == 0 || rest[0] != '"' {
		return ""
	}
	end := bytes.IndexByte(rest[1:], '"')
	if end < 0 {
		return ""
	}
	return string(rest[1 : 1+end])
}
