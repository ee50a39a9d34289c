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

	"github.com/gofiber/fiber/v2"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// The server returns a connection's read buffer to the pool once a request
// is read (so a websocket holds none), but a client that sends its first
// websocket frame in the same packet as the upgrade request still has it
// read: fasthttp hands the buffer on when it holds bytes.
func TestUpgradeKeepsAFrameSentWithTheRequest(t *testing.T) {
	t.Parallel()
	app := hub.NewApp(hub.AppOptions{})
	app.Get("/w", hub.Upgrade(func(c *hub.WSConn) {
		_, m, err := c.ReadMessage()
		if err != nil {
			return
		}
		_ = c.WriteMessage(1, append([]byte("echo:"), m...))
	}, hub.UpgradeOptions{}))
	addr := serveApp(t, app)
	for _, together := range []bool{true, false} {
		br := sendHello(t, addr, together)
		if got := readFrame(t, br); got != "echo:Hello" {
			t.Errorf("together=%v: got %q, want echo:Hello", together, got)
		}
	}
}

// sendHello upgrades a raw connection to addr's /w and sends the masked
// text frame "Hello" (RFC 6455, 5.7) — in the same write as the request
// when together, so it lands in the server's read buffer, or after the
// 101 otherwise — and returns the reader positioned after the 101.
func sendHello(t *testing.T, addr string, together bool) *bufio.Reader {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(hubtest.Timeout(5 * time.Second)))
	req := []byte("GET /w HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	frame := []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}
	if together {
		req, frame = append(req, frame...), nil
	}
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	if frame != nil {
		if _, err := conn.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	return br
}

// readFrame reads one small unmasked server frame's payload.
func readFrame(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	h := make([]byte, 2)
	if _, err := br.Read(h[:1]); err != nil {
		t.Fatalf("frame: %v", err)
	}
	if _, err := br.Read(h[1:]); err != nil {
		t.Fatalf("frame: %v", err)
	}
	n := int(h[1] & 0x7f)
	var sb strings.Builder
	for sb.Len() < n {
		b, err := br.ReadByte()
		if err != nil {
			t.Fatalf("frame payload: %v", err)
		}
		sb.WriteByte(b)
	}
	return sb.String()
}

// A socket is served from a goroutine of its own, so fasthttp lets the
// request's context go at the upgrade (NewApp's KeepHijackedConns); the
// one whose first frame came with the request stays in the hijack
// handler, which holds fasthttp's reader with that frame. Either way the
// connection is closed when the handler returns.
func TestUpgradeServesFromItsOwnGoroutine(t *testing.T) {
	t.Parallel()
	app := hub.NewApp(hub.AppOptions{})
	who := func(c *fiber.Ctx) error { c.Locals("who", "w1"); return c.Next() }
	app.Get("/w", who, hub.Upgrade(func(c *hub.WSConn) {
		_, m, err := c.ReadMessage()
		if err != nil {
			return
		}
		buf := make([]byte, 64<<10)
		where := "own"
		if strings.Contains(string(buf[:runtime.Stack(buf, false)]), "hijackConnHandler") {
			where = "hijack"
		}
		_ = c.WriteMessage(1, []byte(where+":"+c.Locals("who").(string)+":"+string(m)))
		// returns: the connection must be closed by the hub now
	}, hub.UpgradeOptions{}))
	addr := serveApp(t, app)
	for _, tc := range []struct {
		together bool
		want     string
	}{{false, "own:w1:Hello"}, {true, "hijack:w1:Hello"}} {
		br := sendHello(t, addr, tc.together)
		if got := readFrame(t, br); got != tc.want {
			t.Errorf("together=%v: got %q, want %q", tc.together, got, tc.want)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("together=%v: after the handler returned, read %v; want EOF (connection closed)", tc.together, err)
		}
	}
}
