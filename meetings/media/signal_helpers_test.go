package media

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/communehub/communehub/hub/hubtest"
	"github.com/communehub/communehub/meetings"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/meetings/meetingstest"
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
	f.T.Helper()
	return f.serveMediaWith(instance, f.Core, f.P)
}

// serveMediaWith is serveMedia with the instance's own kernel (bus, guards)
// and the proceedings built on it.
func (f *fixture) serveMediaWith(instance string, core *hub.Core, p *meetings.Proceedings) *mediaServer {
	f.T.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.T.Fatal(err)
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
		f.T.Fatal(err)
	}
	f.Must(m.Start(f.Ctx))
	m.Mount(routes)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	go app.Listener(ln)
	f.T.Cleanup(func() {
		core.Sockets.CloseAll(hub.CloseGoingAway, "test over", 2*time.Second)
		_ = app.ShutdownWithTimeout(2 * time.Second)
		cancel()
		<-done
		_ = m.Close()
	})
	if f.Client == nil {
		f.Client = &http.Client{Timeout: hubtest.Timeout(20 * time.Second)}
	}
	return &mediaServer{media: m, base: base, core: core}
}

// wsClient is a signaling connection driven by a test or a bot.
type wsClient struct {
	*meetingstest.WSClient
	lastOffer string // guarded by Mu
}

// dialMedia opens /ws/meetings/{id} on s as user (session, or the meeting
// pass for "guest") and/or with query.
func (f *fixture) dialMedia(s *mediaServer, user, query string) (*wsClient, *http.Response, error) {
	u := strings.Replace(s.base, "http", "ws", 1) + fmt.Sprintf("/ws/meetings/%d", f.Meeting.ID)
	if query != "" {
		u += "?" + query
	}
	return f.dialURL(u, user)
}

func (f *fixture) dialURL(u, user string) (*wsClient, *http.Response, error) {
	if user == "" {
		return f.dialWith(u)
	}
	return f.dialWith(u, f.Cookie(user))
}

// dialWith opens the websocket u sending cookies.
func (f *fixture) dialWith(u string, cookies ...*http.Cookie) (*wsClient, *http.Response, error) {
	c, resp, err := f.DialWith(u, cookies...)
	if err != nil {
		return nil, resp, err
	}
	return &wsClient{WSClient: c}, resp, nil
}

// Send implements sfutest.Transport.
func (c *wsClient) Send(msgType string, body any) error {
	if msgType == "offer" {
		c.Mu.Lock()
		c.lastOffer = string(frame(msgType, body))
		c.Mu.Unlock()
	}
	return c.Write(frame(msgType, body))
}

// attach makes a bot speak through this connection.
func (c *wsClient) attach(cfg sfutest.Config) *sfutest.Bot {
	c.T.Helper()
	b, err := sfutest.New(cfg, c)
	if err != nil {
		c.T.Fatal(err)
	}
	c.T.Cleanup(b.Close)
	c.OnMessage(b.Handle)
	return b
}

func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	hubtest.WaitFor(t, d, cond, what)
}

var wsDialer = websocket.Dialer{HandshakeTimeout: 10 * time.Second}

// getJSON calls GET base+path as user and decodes the answer into out.
func (f *fixture) getJSON(base, path, user string, want int, out any) {
	f.T.Helper()
	req, err := http.NewRequest("GET", base+path, nil)
	if err != nil {
		f.T.Fatal(err)
	}
	if user != "" {
		req.AddCookie(f.Cookie(user))
	}
	resp, err := (&http.Client{Timeout: hubtest.Timeout(10 * time.Second)}).Do(req)
	if err != nil {
		f.T.Fatal(err)
	}
	defer resp.Body.Close()
	var b []byte
	b, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		f.T.Fatalf("GET %s as %q = %d %s, want %d", path, user, resp.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			f.T.Fatalf("%v in %s", err, b)
		}
	}
}
