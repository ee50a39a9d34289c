package hub_test

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
)

// writerServer serves one websocket whose handler hands its WSWriter to
// the test through ch and reads until the client goes.
func writerServer(t *testing.T, o hub.WSWriterOptions, ch chan<- *hub.WSWriter) string {
	t.Helper()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/w", hub.Upgrade(func(c *hub.WSConn) {
		readerDone := make(chan struct{})
		w := hub.NewWSWriter(c, readerDone, o)
		w.StartPing()
		ch <- w
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				break
			}
		}
		close(readerDone)
		w.Finish()
	}, hub.UpgradeOptions{}))
	return "ws://" + serveApp(t, app) + "/w"
}

// serveApp serves app on a loopback port until the test ends and returns
// its address.
func serveApp(tb testing.TB, app *fiber.App) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	tb.Cleanup(func() { _ = app.ShutdownWithTimeout(2 * time.Second) })
	return ln.Addr().String()
}

func dialWriter(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readText(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(hubtest.Timeout(5 * time.Second)))
	_, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

// Messages of every header size (7-bit, 16-bit, 64-bit lengths), queued
// faster than they are written, arrive whole and in order; a close asked
// for after them comes after them, and the first close asked for wins.
func TestWSWriterWritesQueuedMessagesInOrder(t *testing.T) {
	t.Parallel()
	ch := make(chan *hub.WSWriter, 1)
	c := dialWriter(t, writerServer(t, hub.WSWriterOptions{MaxBytes: 64 << 20}, ch))
	w := <-ch
	var want []string
	for i := range 300 {
		size := []int{1, 125, 126, 4000, 65535, 65536, 200 << 10}[i%7]
		m := fmt.Sprintf("%03d:", i) + strings.Repeat("x", size)
		want = append(want, m)
		if !w.Send([]byte(m)) {
			t.Fatalf("message %d overflowed", i)
		}
	}
	w.Close(4400, "first")
	w.Close(1001, "second")
	for i, m := range want {
		if got := readText(t, c); got != m {
			t.Fatalf("message %d: %d bytes %.8q, want %d bytes %.8q", i, len(got), got, len(m), m)
		}
	}
	_, _, err := c.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 4400 || ce.Text != "first" {
		t.Fatalf("after the messages: %v, want close 4400 first", err)
	}
	select {
	case <-w.Done():
	case <-time.After(hubtest.Timeout(5 * time.Second)):
		t.Fatal("writer not done after its close")
	}
}

// While the writer keeps up every event is delivered; once the unsent
// events of a socket span more than CoalesceAfter, a new event replaces
// the unsent ones of its topic, and the latest state always arrives.
func TestWSWriterCoalescesOnlyWhenBehind(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	var runs atomic.Int32
	o := hub.WSWriterOptions{CoalesceAfter: 25 * time.Millisecond, Produce: func(b *hub.WSBatch) error {
		if runs.Add(1) == 1 {
			<-hold // the socket is busy: what comes now waits
		}
		for _, it := range b.Items {
			if it.Event != nil {
				b.Text(it.Event.Frame())
			} else if it.Msg != nil {
				b.Text(it.Msg)
			}
		}
		return nil
	}}
	ch := make(chan *hub.WSWriter, 1)
	c := dialWriter(t, writerServer(t, o, ch))
	w := <-ch
	t0 := time.Now()
	ev := func(topic string, seq uint64, at time.Duration) *hub.Event {
		return &hub.Event{Topic: topic, Seq: seq, Time: t0.Add(at), Data: json.RawMessage(`{}`)}
	}
	w.Send([]byte("start")) // the writer starts and is held
	hubtest.WaitFor(t, 5*time.Second, func() bool { return runs.Load() == 1 }, "the writer held")
	w.Event(ev("a", 1, 0))
	w.Event(ev("b", 1, 5*time.Millisecond))
	w.Event(ev("a", 2, 10*time.Millisecond)) // within 25 ms of the oldest: kept
	w.Event(ev("a", 3, 40*time.Millisecond)) // 40 ms behind: replaces a/1 and a/2
	w.Event(ev("b", 2, 41*time.Millisecond)) // still behind (b/1 is the oldest): replaces b/1
	close(hold)
	var got []string
	for len(got) < 3 {
		m := readText(t, c)
		if m == "start" {
			got = append(got, m)
			continue
		}
		var e struct {
			Topic string
			Seq   uint64
		}
		if err := json.Unmarshal([]byte(m), &e); err != nil {
			t.Fatalf("frame %q: %v", m, err)
		}
		got = append(got, fmt.Sprintf("%s/%d", e.Topic, e.Seq))
	}
	if strings.Join(got, " ") != "start a/3 b/2" {
		t.Fatalf("delivered %v, want start a/3 b/2", got)
	}
	// Keeping up again: every event is delivered.
	for i := range uint64(20) {
		w.Event(ev("a", 10+i, 100*time.Millisecond+time.Duration(i)*time.Millisecond))
		var e struct{ Seq uint64 }
		if err := json.Unmarshal([]byte(readText(t, c)), &e); err != nil || e.Seq != 10+i {
			t.Fatalf("event %d: seq %d err %v", 10+i, e.Seq, err)
		}
	}
}

// A socket whose queue passes MaxBytes is cut off with 4408 and the reason
// given, and Closed hears why.
func TestWSWriterOverflowClosesSlow(t *testing.T) {
	t.Parallel()
	hold, entered := make(chan struct{}), make(chan struct{}, 1)
	var why atomic.Value
	o := hub.WSWriterOptions{MaxBytes: 10 << 10, SlowReason: "too slow here",
		Produce: func(b *hub.WSBatch) error {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-hold
			return nil
		},
		Closed: func(code int, slow string) { why.Store(fmt.Sprint(code, " ", slow)) }}
	ch := make(chan *hub.WSWriter, 1)
	c := dialWriter(t, writerServer(t, o, ch))
	w := <-ch
	big := []byte(strings.Repeat("x", 4<<10))
	// The writer takes the first message and is stuck writing it; what
	// follows waits in the queue, which is what MaxBytes bounds. (Sending
	// all three at once raced the writer's take: a take between the sends
	// left less than 12 KB waiting.)
	if !w.Send(big) {
		t.Fatal("4 KB overflowed 10 KB")
	}
	select {
	case <-entered:
	case <-time.After(hubtest.Timeout(5 * time.Second)):
		t.Fatal("the writer did not take the first message")
	}
	if !w.Send(big) || !w.Send(big) {
		t.Fatal("8 KB waiting overflowed 10 KB")
	}
	if w.Send(big) {
		t.Fatal("12 KB waiting did not overflow 10 KB")
	}
	close(hold)
	_ = c.SetReadDeadline(time.Now().Add(hubtest.Timeout(5 * time.Second)))
	_, _, err := c.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != hub.CloseSlow || ce.Text != "too slow here" {
		t.Fatalf("got %v, want close 4408", err)
	}
	hubtest.WaitFor(t, 5*time.Second, func() bool { return why.Load() == "4408 queue_overflow" }, "Closed(4408, queue_overflow)")
}

// Pings go out every period as websocket pings, or as the message
// PingMessage makes.
func TestWSWriterPings(t *testing.T) {
	t.Parallel()
	ch := make(chan *hub.WSWriter, 2)
	c := dialWriter(t, writerServer(t, hub.WSWriterOptions{Ping: 20 * time.Millisecond}, ch))
	<-ch
	var pings atomic.Int32
	c.SetPingHandler(func(string) error { pings.Add(1); return nil })
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	hubtest.WaitFor(t, 5*time.Second, func() bool { return pings.Load() >= 3 }, "three websocket pings")

	c2 := dialWriter(t, writerServer(t, hub.WSWriterOptions{Ping: 20 * time.Millisecond,
		PingMessage: func() []byte { return []byte(`{"type":"ping"}`) }}, ch))
	<-ch
	for range 3 {
		if m := readText(t, c2); m != `{"type":"ping"}` {
			t.Fatalf("got %q, want the ping message", m)
		}
	}
}

// With a window, once the peer reports what it has read, the writer stops
// after Window unreported messages: events queue and coalesce to their
// latest state instead of piling up in the kernel's buffers, and a report
// lets the writer go on with the newest state. A close is never held up.
func TestWSWriterWindowHoldsUntilThePeerReads(t *testing.T) {
	t.Parallel()
	var runs atomic.Int32
	o := hub.WSWriterOptions{Window: 2, CoalesceAfter: 25 * time.Millisecond, Produce: func(b *hub.WSBatch) error {
		var evs []string
		for _, it := range b.Items {
			switch {
			case it.Event != nil:
				evs = append(evs, fmt.Sprintf("%s/%d", it.Event.Topic, it.Event.Seq))
			case it.Msg != nil:
				b.Text(it.Msg)
			}
		}
		if len(evs) > 0 {
			runs.Add(1)
			b.Text([]byte(strings.Join(evs, " "))) // one message per batch, as the walls get
		}
		return nil
	}}
	ch := make(chan *hub.WSWriter, 1)
	c := dialWriter(t, writerServer(t, o, ch))
	w := <-ch
	w.Send([]byte("hello"))
	if got := readText(t, c); got != "hello" {
		t.Fatalf("first message %q", got)
	}
	w.Read(1) // the page reports: flow control on
	t0 := time.Now()
	ev := func(seq uint64) *hub.Event {
		return &hub.Event{Topic: "a", Seq: seq, Time: t0.Add(time.Duration(seq) * time.Millisecond), Data: json.RawMessage(`{}`)}
	}
	w.Event(ev(1))
	first := readText(t, c)
	w.Event(ev(2))
	second := readText(t, c)
	for seq := uint64(3); seq <= 60; seq++ {
		w.Event(ev(seq)) // the window is full: these wait
	}
	time.Sleep(hubtest.Timeout(300 * time.Millisecond)) // sleep: a quiet window in which nothing may be written
	if n := runs.Load(); n != 2 {
		t.Fatalf("%d event messages written with a window of 2 and no report (%q, %q)", n, first, second)
	}
	w.Read(3) // the page has read hello and both
	third := readText(t, c)
	seqs := strings.Fields(third)
	if len(seqs) == 0 || seqs[len(seqs)-1] != "a/60" {
		t.Fatalf("after the report: %q, want it to end on the newest state a/60", third)
	}
	if len(seqs) >= 58 {
		t.Errorf("after the report all %d held events were sent: they should have coalesced", len(seqs))
	}
	w.Event(ev(61)) // window: 1 unreported, then this one
	if got := readText(t, c); got != "a/61" {
		t.Fatalf("got %q, want a/61", got)
	}
	w.Event(ev(62)) // held: the window is full
	w.Close(4400, "bye")
	if got := readText(t, c); got != "a/62" {
		t.Fatalf("before the close: %q, want a/62", got)
	}
	_, _, err := c.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 4400 {
		t.Fatalf("after the held event: %v, want close 4400", err)
	}
}
