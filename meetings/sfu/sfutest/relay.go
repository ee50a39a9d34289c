package sfutest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/communehub/communehub/hub/hubtest/deadline"
	"github.com/fasthttp/websocket"

	"github.com/communehub/communehub/meetings/sfu"
)

// Relay serves an Engine over a bare websocket at /?room=R, with no access
// control: one message per frame, {"type":…, …}. It exists so that
// benchmarks can run the SFU in one process and the bots in another and
// measure the SFU's CPU alone. Never expose it.
func Relay(e *sfu.Engine) http.Handler {
	var seq atomic.Uint64
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		room := r.URL.Query().Get("room")
		if room == "" {
			room = "bench"
		}
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		var wmu sync.Mutex
		write := func(b []byte) {
			wmu.Lock()
			_ = conn.SetWriteDeadline(time.Now().Add(deadline.Timeout(5 * time.Second)))
			_ = conn.WriteMessage(websocket.TextMessage, b)
			wmu.Unlock()
		}
		id := "r" + strconv.FormatUint(seq.Add(1), 10)
		// Writes of the SFU go through a queue so the participant's loop
		// never waits for the socket.
		out := make(chan []byte, 4096)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for b := range out {
				write(b)
			}
		}()
		var closed atomic.Bool
		p, err := e.Join(room, sfu.PeerInfo{ID: id, Name: r.URL.Query().Get("name")}, func(t string, body any) {
			if closed.Load() {
				return
			}
			b, _ := json.Marshal(body)
			msg := append([]byte(`{"type":"`+t+`","body":`), b...)
			msg = append(msg, '}')
			select {
			case out <- msg:
			default:
			}
		})
		if err != nil {
			close(out)
			<-done
			return
		}
		d := &direct{p: p}
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				break
			}
			var m struct {
				Type string          `json:"type"`
				Body json.RawMessage `json:"body"`
			}
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			var body any = m.Body
			if err := d.Send(m.Type, body); err != nil {
				continue
			}
		}
		p.Close()
		closed.Store(true)
		close(out)
		<-done
	})
}

// wsTransport sends a bot's messages over a Relay websocket.
type wsTransport struct {
	mu   sync.Mutex
	conn *websocket.Conn
}

func (t *wsTransport) Send(msgType string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	msg := append([]byte(`{"type":"`+msgType+`","body":`), b...)
	msg = append(msg, '}')
	t.mu.Lock()
	defer t.mu.Unlock()
	_ = t.conn.SetWriteDeadline(time.Now().Add(deadline.Timeout(5 * time.Second)))
	return t.conn.WriteMessage(websocket.TextMessage, msg)
}

// Dial connects a new bot to a Relay at url (ws://host:port/?room=R).
// Close the bot, then call the returned stop function.
func Dial(ctx context.Context, url string, cfg Config) (*Bot, func(), error) {
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("dial relay: %w", err)
	}
	tr := &wsTransport{conn: conn}
	b, err := New(cfg, tr)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	b.MarkStart()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, raw, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var m struct {
				Type string          `json:"type"`
				Body json.RawMessage `json:"body"`
			}
			if json.Unmarshal(raw, &m) == nil {
				b.Handle(m.Type, m.Body)
			}
		}
	}()
	stop := func() {
		_ = conn.Close()
		<-done
	}
	return b, stop, nil
}
