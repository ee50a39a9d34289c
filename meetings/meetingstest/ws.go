package meetingstest

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

// WSClient is a websocket opened by a test: the /ws event socket, or a
// meeting's signaling connection driven by a test or a bot. It keeps every
// JSON message it reads.
type WSClient struct {
	T    testing.TB
	Conn *websocket.Conn
	wmu  sync.Mutex

	Mu     sync.Mutex // guards what follows
	Msgs   []map[string]any
	Closed chan struct{} // closed when the socket is
	Code   int
	Reason string // of the close frame
	handle func(typ string, raw []byte)
}

// Dial opens the websocket u sending header; the test's cleanup closes it.
func Dial(t testing.TB, u string, header http.Header) (*WSClient, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: hubtest.Timeout(10 * time.Second)}
	conn, resp, err := d.Dial(u, header)
	if err != nil {
		return nil, resp, err
	}
	c := &WSClient{T: t, Conn: conn, Closed: make(chan struct{})}
	go c.read()
	t.Cleanup(func() { _ = conn.Close(); <-c.Closed })
	return c, resp, nil
}

// DialWith opens the websocket u sending cookies.
func (f *Fixture) DialWith(u string, cookies ...*http.Cookie) (*WSClient, *http.Response, error) {
	h := http.Header{}
	for _, c := range cookies {
		h.Add("Cookie", c.Name+"="+c.Value)
	}
	return Dial(f.T, u, h)
}

func (c *WSClient) read() {
	defer close(c.Closed)
	for {
		_, b, err := c.Conn.ReadMessage()
		if err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				c.Mu.Lock()
				c.Code, c.Reason = ce.Code, ce.Text
				c.Mu.Unlock()
			}
			return
		}
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		c.Mu.Lock()
		c.Msgs = append(c.Msgs, m)
		handle := c.handle
		c.Mu.Unlock()
		if handle != nil {
			if typ, _ := m["type"].(string); typ != "" {
				handle(typ, b)
			}
		}
	}
}

// OnMessage hands handle every message with a type: first those that came
// before, in order, then each as it comes (a bot speaking through c).
func (c *WSClient) OnMessage(handle func(typ string, raw []byte)) {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	c.handle = handle
	for _, m := range c.Msgs {
		if typ, _ := m["type"].(string); typ != "" {
			raw, _ := json.Marshal(m)
			handle(typ, raw)
		}
	}
}

// Write sends one text message.
func (c *WSClient) Write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.Conn.SetWriteDeadline(time.Now().Add(hubtest.Timeout(5 * time.Second)))
	return c.Conn.WriteMessage(websocket.TextMessage, b)
}

// WaitMsg waits for a message of type typ matching ok (nil: any).
func (c *WSClient) WaitMsg(typ string, ok func(map[string]any) bool) map[string]any {
	c.T.Helper()
	deadline := time.Now().Add(hubtest.Timeout(10 * time.Second))
	for time.Now().Before(deadline) {
		c.Mu.Lock()
		for _, m := range c.Msgs {
			if m["type"] == typ && (ok == nil || ok(m)) {
				c.Mu.Unlock()
				return m
			}
		}
		c.Mu.Unlock()
		time.Sleep(10 * time.Millisecond) // sleep: the polling interval
	}
	c.T.Fatalf("no %s message; got %v", typ, c.Types())
	return nil
}

// Types lists the types of the messages received, an error's with its code.
func (c *WSClient) Types() []string {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	var out []string
	for _, m := range c.Msgs {
		s, _ := m["type"].(string)
		if s == "error" {
			s += ":" + fmt.Sprint(m["code"])
		}
		out = append(out, s)
	}
	return out
}

// Count counts the messages of type typ (and code, unless "").
func (c *WSClient) Count(typ, code string) int {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	n := 0
	for _, m := range c.Msgs {
		if m["type"] == typ && (code == "" || m["code"] == code) {
			n++
		}
	}
	return n
}

// Events returns the topics of the events received.
func (c *WSClient) Events() []string {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	var out []string
	for _, m := range c.Msgs {
		if m["type"] == "event" {
			out = append(out, fmt.Sprint(m["topic"]))
		}
	}
	return out
}

// WaitClosed waits for the server to close the socket and returns the code.
func (c *WSClient) WaitClosed() int {
	c.T.Helper()
	select {
	case <-c.Closed:
	case <-time.After(hubtest.Timeout(10 * time.Second)):
		c.T.Fatalf("socket not closed; messages %v", c.Types())
	}
	c.Mu.Lock()
	defer c.Mu.Unlock()
	return c.Code
}
