package hub_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// echoAfterWait serves /w: wait, read, echo, until the socket fails; a
// wait that times out is answered with "timeout".
func echoAfterWait(t *testing.T, deadline time.Duration) string {
	app := hub.NewApp(hub.AppOptions{})
	app.Get("/w", hub.Upgrade(func(c *hub.WSConn) {
		for {
			_ = c.SetReadDeadline(time.Now().Add(deadline))
			if err := c.WaitMessage(); err != nil {
				if hub.IsTimeout(err) {
					_ = c.WriteMessage(1, []byte("timeout"))
				}
				return
			}
			_, m, err := c.ReadMessage()
			if err != nil {
				return
			}
			_ = c.WriteMessage(1, append([]byte("echo:"), m...))
		}
	}, hub.UpgradeOptions{}))
	return serveApp(t, app)
}

// Two frames in one packet: the second is in the library's buffer once the
// first is read, so the wait must not wait for the socket.
func TestWaitMessageSeesFramesAlreadyRead(t *testing.T) {
	t.Parallel()
	addr := echoAfterWait(t, hubtest.Timeout(time.Minute))
	for _, together := range []bool{false, true} {
		conn, br := dialWS(t, addr, together)
		hello := []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}
		if _, err := conn.Write(append(append([]byte{}, hello...), hello...)); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if got := readFrame(t, br); got != "echo:Hello" {
				t.Fatalf("together=%v, frame %d: got %q, want echo:Hello", together, i, got)
			}
		}
	}
}

// The wait ends at the read deadline with a timeout, as a read would.
func TestWaitMessageTimesOut(t *testing.T) {
	t.Parallel()
	addr := echoAfterWait(t, 50*time.Millisecond) // deadline: the wait is meant to time out
	_, br := dialWS(t, addr, false)
	if got := readFrame(t, br); got != "timeout" {
		t.Fatalf("got %q, want timeout", got)
	}
}

// An idle reader parked in WaitMessage keeps half the stack of one parked
// in ReadMessage (4 KB instead of 8 KB in the hub's build, 2 KB instead of
// 4 KB in a test's): parked there, a feature's handler (readFromAFrame) is
// too deep for the runtime to shrink its stack.
func TestWaitMessageParksShallow(t *testing.T) {
	// Not parallel: it counts the process's stack memory. Both kinds of
	// socket stay open until the end, so that no stack freed by one is
	// reused by the other.
	const n = 200
	app := hub.NewApp(hub.AppOptions{})
	app.Get("/read", hub.Upgrade(func(c *hub.WSConn) { readFromAFrame(c, false) }, hub.UpgradeOptions{}))
	app.Get("/wait", hub.Upgrade(func(c *hub.WSConn) { readFromAFrame(c, true) }, hub.UpgradeOptions{}))
	addr := serveApp(t, app)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		hubtest.WaitFor(t, 10*time.Second, func() bool { return parkedReaders() == 0 }, "handlers returned")
	}()
	open := func(path string, k int) {
		for range k {
			c, _ := dialPath(t, addr, path, false)
			conns = append(conns, c)
		}
		want := len(conns)
		hubtest.WaitFor(t, 20*time.Second, func() bool { return parkedReaders() == want }, "sockets idle")
	}
	open("/read", 1) // the server's workers and pools exist before the baseline
	open("/wait", 1)
	base := stacksAfterGC()
	open("/read", n)
	afterRead := stacksAfterGC()
	open("/wait", n)
	afterWait := stacksAfterGC()
	read := float64(afterRead-base) / n / 1024
	wait := float64(afterWait-afterRead) / n / 1024
	t.Logf("stack per idle socket: %.1f KB parked in WaitMessage, %.1f KB in ReadMessage", wait, read)
	if wait > read*0.6 {
		t.Errorf("stack per idle socket: %.1f KB parked in WaitMessage, want about half of %.1f KB (in ReadMessage)", wait, read)
	}
}

// readFromAFrame reads as a feature's handler does, from under a frame of
// its own, waiting in WaitMessage first when wait is set.
//
//go:noinline
func readFromAFrame(c *hub.WSConn, wait bool) (n uint64) {
	var state [48]uint64
	for i := range state {
		state[i] = uint64(i)
	}
	for !wait || c.WaitMessage() == nil {
		_, m, err := c.ReadMessage()
		if err != nil {
			break
		}
		n += state[len(m)%len(state)]
	}
	return n
}

// parkedReaders counts the goroutines of readFromAFrame waiting for the
// network.
func parkedReaders() int {
	buf := make([]byte, 4<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "[IO wait") && strings.Contains(g, "readFromAFrame") {
			n++
		}
	}
	return n
}

func stacksAfterGC() uint64 {
	for range 6 { // a stack shrinks by half per GC
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.StackInuse
}

// dialWS upgrades a raw connection to addr's /w (with a ping frame in the
// request's packet when together, so the socket is served in the hijack
// handler) and returns it with its reader positioned after the 101.
func dialWS(t *testing.T, addr string, together bool) (net.Conn, *bufio.Reader) {
	t.Helper()
	return dialPath(t, addr, "/w", together)
}

func dialPath(t *testing.T, addr, path string, together bool) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(hubtest.Timeout(10 * time.Second)))
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	if together {
		req = append(req, 0x89, 0x80, 1, 2, 3, 4) // a masked ping with no payload
	}
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	if together {
		if h := make([]byte, 2); mustRead(t, br, h) != "\x8a\x00" {
			t.Fatalf("got %q, want the pong of the ping", h)
		}
	}
	return conn, br
}

func mustRead(t *testing.T, br *bufio.Reader, p []byte) string {
	t.Helper()
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatal(err)
	}
	return string(p)
}
