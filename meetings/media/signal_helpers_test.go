package media

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/communehub/communehub/hub/hubtest"
	"github.com/communehub/communehub/meetings"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/meetings/sfu/sfutest"
)

// mediaServer is one hub instance serving meetings with media.
type mediaServer struct {
	media *Service
	base  string
	core  *hub.Core
}

// serveMedia starts an instance on the fixture's database: kernel routes,
// proceedings and media, on a real listener.
func (f *fixture) serveMedia(instance string) *mediaServer {
	f.t.Helper()
	return f.serveMediaWith(instance, f.core, f.p)
}

// serveMediaWith is serveMedia with the instance's own kernel (bus, guards)
// and the proceedings built on it.
func (f *fixture) serveMediaWith(instance string, core *hub.Core, p *meetings.Proceedings) *mediaServer {
	f.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	app := hub.NewApp(hub.AppOptions{Logger: nopLog()})
	routes := core.Routes(app, core.Mount(app))
	p.Mount(routes)
	cfg := DefaultConfig()
	cfg.UDPPort, cfg.TCPPort, cfg.ListenIP, cfg.Loopback = 0, 0, "127.0.0.1", true
	cfg.InstanceID, cfg.PublicURL = instance, base
	m, err := New(cfg, p, core.Deps("media"))
	if err != nil {
		f.t.Fatal(err)
	}
	f.must(m.Start(f.ctx))
	m.Mount(routes)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	go app.Listener(ln)
	f.t.Cleanup(func() {
		core.Sockets.CloseAll(hub.CloseGoingAway, "test over", 2*time.Second)
		_ = app.ShutdownWithTimeout(2 * time.Second)
		cancel()
		<-done
		_ = m.Close()
	})
	if f.client == nil {
		f.client = &http.Client{Timeout: hubtest.Timeout(20 * time.Second)}
	}
	return &mediaServer{media: m, base: base, core: core}
}

// wsClient is a signaling connection driven by a test or a bot.
type wsClient struct {
	t    testing.TB
	conn *websocket.Conn
	wmu  sync.Mutex
	bot  *sfutest.Bot

	mu     sync.Mutex
	msgs   []map[string]any
	closed chan struct{}
	code   int
	reason string // of the close frame

	lastOffer string
}

// dialMedia opens /ws/meetings/{id} on s as user (session, or the meeting
// pass for "guest") and/or with query.
func (f *fixture) dialMedia(s *mediaServer, user, query string) (*wsClient, *http.Response, error) {
	u := strings.Replace(s.base, "http", "ws", 1) + fmt.Sprintf("/ws/meetings/%d", f.meeting.ID)
	if query != "" {
		u += "?" + query
	}
	return f.dialURL(u, user)
}

func (f *fixture) dialURL(u, user string) (*wsClient, *http.Response, error) {
	if user == "" {
		return f.dialWith(u)
	}
	return f.dialWith(u, f.cookie(user))
}

// dialWith opens the websocket u sending cookies.
func (f *fixture) dialWith(u string, cookies ...*http.Cookie) (*wsClient, *http.Response, error) {
	h := http.Header{}
	for _, c := range cookies {
		h.Add("Cookie", c.Name+"="+c.Value)
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.Dial(u, h)
	if err != nil {
		return nil, resp, err
	}
	c := &wsClient{t: f.t, conn: conn, closed: make(chan struct{})}
	go c.read()
	f.t.Cleanup(func() { _ = conn.Close(); <-c.closed })
	return c, resp, nil
}

func (c *wsClient) read() {
	defer close(c.closed)
	for {
		_, b, err := c.conn.ReadMessage()
		if err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				c.mu.Lock()
				c.code, c.reason = ce.Code, ce.Text
				c.mu.Unlock()
			}
			return
		}
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		c.mu.Lock()
		c.msgs = append(c.msgs, m)
		bot := c.bot
		c.mu.Unlock()
		if bot != nil {
			if typ, _ := m["type"].(string); typ != "" {
				bot.Handle(typ, b)
			}
		}
	}
}

// Send implements sfutest.Transport.
func (c *wsClient) Send(msgType string, body any) error {
	if msgType == "offer" {
		c.mu.Lock()
		c.lastOffer = string(frame(msgType, body))
		c.mu.Unlock()
	}
	return c.write(frame(msgType, body))
}

func (c *wsClient) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(hubtest.Timeout(5 * time.Second)))
	return c.conn.WriteMessage(websocket.TextMessage, b)
}

// attach makes a bot speak through this connection.
func (c *wsClient) attach(cfg sfutest.Config) *sfutest.Bot {
	c.t.Helper()
	b, err := sfutest.New(cfg, c)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(b.Close)
	c.mu.Lock()
	c.bot = b
	for _, m := range c.msgs { // what came before the bot, in order
		if typ, _ := m["type"].(string); typ != "" {
			raw, _ := json.Marshal(m)
			b.Handle(typ, raw)
		}
	}
	c.mu.Unlock()
	return b
}

// waitMsg waits for a message of type typ matching ok (nil: any).
func (c *wsClient) waitMsg(typ string, ok func(map[string]any) bool) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(hubtest.Timeout(10 * time.Second))
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for _, m := range c.msgs {
			if m["type"] == typ && (ok == nil || ok(m)) {
				c.mu.Unlock()
				return m
			}
		}
		c.mu.Unlock()
		time.Sleep(10 * time.Millisecond) // sleep: the polling interval
	}
	c.t.Fatalf("no %s message; got %v", typ, c.types())
	return nil
}

func (c *wsClient) types() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs {
		s, _ := m["type"].(string)
		if s == "error" {
			s += ":" + fmt.Sprint(m["code"])
		}
		out = append(out, s)
	}
	return out
}

func (c *wsClient) count(typ, code string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.msgs {
		if m["type"] == typ && (code == "" || m["code"] == code) {
			n++
		}
	}
	return n
}

// waitClosed waits for the server to close the socket and returns the code.
func (c *wsClient) waitClosed() int {
	c.t.Helper()
	select {
	case <-c.closed:
	case <-time.After(hubtest.Timeout(10 * time.Second)):
		c.t.Fatalf("socket not closed; messages %v", c.types())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code
}

func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	hubtest.WaitFor(t, d, cond, what)
}

var wsDialer = websocket.Dialer{HandshakeTimeout: 10 * time.Second}

// getJSON calls GET base+path as user and decodes the answer into out.
func (f *fixture) getJSON(base, path, user string, want int, out any) {
	f.t.Helper()
	req, err := http.NewRequest("GET", base+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if user != "" {
		req.AddCookie(f.cookie(user))
	}
	resp, err := (&http.Client{Timeout: hubtest.Timeout(10 * time.Second)}).Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b []byte
	b, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		f.t.Fatalf("GET %s as %q = %d %s, want %d", path, user, resp.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			f.t.Fatalf("%v in %s", err, b)
		}
	}
}
