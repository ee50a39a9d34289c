package meetings

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/communehub/communehub/hub/hubtest"
)

// wsClient is an /ws event socket opened by a test.
type wsClient struct {
	t    testing.TB
	conn *websocket.Conn

	mu     sync.Mutex
	msgs   []map[string]any
	closed chan struct{}
	code   int
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
				c.code = ce.Code
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
		c.mu.Unlock()
	}
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
