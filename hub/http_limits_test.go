package hub_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// limitsApp serves an app with short HTTP limits: GET /ping and a
// websocket echo on /echo.
func limitsApp(t *testing.T, l hub.HTTPLimits) string {
	t.Helper()
	app := hub.NewApp(hub.AppOptions{Limits: l})
	app.Get("/ping", func(c *fiber.Ctx) error { return c.SendString("pong") })
	app.Get("/echo", hub.Upgrade(func(c *hub.WSConn) {
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, msg); err != nil {
				return
			}
		}
	}, hub.UpgradeOptions{}))
	ln, err := hub.Listen("127.0.0.1:0", hub.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(time.Second); <-done })
	return ln.Addr().String()
}

// closedWithin reports how long the server took to close c (a read sees
// EOF or a reset), failing the test after max.
func closedWithin(t *testing.T, c net.Conn, r io.Reader, max time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(hubtest.Timeout(max)))
	_, err := io.Copy(io.Discard, r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", hubtest.Timeout(max))
	}
	return time.Since(start)
}

// A kept-alive connection that sends nothing more is closed after the idle
// timeout.
func TestIdleKeepAliveConnectionIsClosed(t *testing.T) {
	t.Parallel()
	addr := limitsApp(t, hub.HTTPLimits{HeaderTimeout: time.Second, IdleTimeout: 500 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	d := closedWithin(t, c, br, 10*time.Second)
	t.Logf("idle keep-alive connection closed after %v (idle timeout 500ms)", d.Round(10*time.Millisecond))
}

// A websocket outlives the HTTP read, header and idle timeouts: fasthttp
// lets go of a hijacked connection's deadlines.
func TestWebsocketOutlivesHTTPTimeouts(t *testing.T) {
	t.Parallel()
	l := hub.HTTPLimits{HeaderTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, IdleTimeout: time.Second}
	addr := limitsApp(t, l)
	ws, _, err := (&websocket.Dialer{HandshakeTimeout: hubtest.Timeout(5 * time.Second)}).Dial("ws://"+addr+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	// Silent for three times the longest limit (the silence is what is
	// tested, not a wait for something): a read deadline left over from
	// the HTTP request would have ended the server's read.
	time.Sleep(3 * time.Second) // sleep: the silence is the scenario
	_ = ws.SetWriteDeadline(time.Now().Add(hubtest.Timeout(2 * time.Second)))
	if err := ws.WriteMessage(websocket.TextMessage, []byte("still here")); err != nil {
		t.Fatalf("write after 3s of silence: %v", err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(hubtest.Timeout(2 * time.Second)))
	_, msg, err := ws.ReadMessage()
	if err != nil || string(msg) != "still here" {
		t.Fatalf("echo after 3s of silence = %q, %v; the HTTP timeouts cut the websocket", msg, err)
	}
}

// A body that trickles in is cut after the read timeout, counted from the
// end of the header.
func TestSlowBodyIsCut(t *testing.T) {
	t.Parallel()
	app := hub.NewApp(hub.AppOptions{Limits: hub.HTTPLimits{HeaderTimeout: 5 * time.Second, ReadTimeout: 500 * time.Millisecond}})
	app.Post("/up", func(c *fiber.Ctx) error { return c.SendString("got it") })
	ln, err := hub.Listen("127.0.0.1:0", hub.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(time.Second); <-done })

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab"); err != nil {
		t.Fatal(err)
	}
	d := closedWithin(t, c, c, 10*time.Second)
	if d > hubtest.Timeout(4*time.Second) {
		t.Errorf("slow body cut after %v: the header timeout (5s), not the read timeout (500ms), ended it", d)
	}
	t.Logf("slow body cut after %v (read timeout 500ms)", d.Round(10*time.Millisecond))
}

// A header over MaxHeaderBytes gets 431.
func TestHeaderOverLimitGets431(t *testing.T) {
	t.Parallel()
	addr := limitsApp(t, hub.HTTPLimits{MaxHeaderBytes: 2048})
	req, _ := http.NewRequest("GET", "http://"+addr+"/ping", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 3000))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("3000-byte header with a 2048-byte limit = %d, want 431", resp.StatusCode)
	}
}
