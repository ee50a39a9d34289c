package hub

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/fasthttp/websocket"
	fws "github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
)

// WSOptions configures the generic event socket.
type WSOptions struct {
	Bus      *Bus
	Sockets  *Sockets
	Metrics  *Metrics
	Logger   *slog.Logger
	Origins  []string // allowed Origin headers; empty: same host only
	MaxQueue int      // bytes queued per socket before it is dropped; default 1 MiB
	Guards   *TopicGuards
}

const (
	wsWriteWait  = 5 * time.Second
	wsPingPeriod = 20 * time.Second
	wsReadLimit  = 64 << 10
)

// EventSocket serves GET /ws?topic=…(&topic=…): after authentication (cookie,
// bearer header or access_token) it streams {"type":"event",…} frames for
// the topics (patterns with + and # allowed). A socket that falls behind is
// closed with 4408 so the client can resubscribe and resync.
func EventSocket(o WSOptions) []fiber.Handler {
	if o.MaxQueue <= 0 {
		o.MaxQueue = 1 << 20
	}
	check := func(c *fiber.Ctx) error {
		if !fws.IsWebSocketUpgrade(c) {
			return Errorf(EInvalid, "websocket upgrade required")
		}
		if !OriginAllowed(c.Get(fiber.HeaderOrigin), string(c.Request().Host()), o.Origins) {
			return &Error{Code: EForbidden, Field: "Origin", Message: "origin not allowed (set COMMUNEHUB_ORIGINS)"}
		}
		topics := c.Context().QueryArgs().PeekMulti("topic")
		if len(topics) == 0 {
			return FieldError("topic", "at least one topic is required")
		}
		list := make([]string, 0, len(topics))
		for _, t := range topics {
			if !ValidPattern(string(t)) {
				return FieldError("topic", "invalid topic %q", t)
			}
			if ValidTopic(string(t)) && !o.Guards.Allow(c.UserContext(), PrincipalOf(c), string(t)) {
				return &Error{Code: EForbidden, Field: "topic", Message: fmt.Sprintf("not allowed to follow %q", t)}
			}
			list = append(list, string(t))
		}
		c.Locals("principal", PrincipalOf(c))
		c.Locals("topics", list)
		return c.Next()
	}
	upgrade := fws.New(func(c *fws.Conn) { serveEvents(c, o) }, fws.Config{
		Origins:         []string{"*"}, // checked above by OriginAllowed
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
	})
	return []fiber.Handler{RequireRole(), check, upgrade}
}

func serveEvents(c *fws.Conn, o WSOptions) {
	topics, _ := c.Locals("topics").([]string)
	principal, _ := c.Locals("principal").(*Principal)
	sub, err := o.Bus.Subscribe(topics, o.MaxQueue)
	if err != nil {
		WriteClose(c, CloseBadRequest, err.Error())
		return
	}
	defer sub.Close()
	closeReq := make(chan [2]any, 1)
	untrack, ok := o.Sockets.Track(func(code int, reason string) {
		select {
		case closeReq <- [2]any{code, reason}:
		default:
		}
	})
	defer untrack()
	if !ok {
		WriteClose(c, CloseGoingAway, "hub shutting down")
		return
	}
	if o.Metrics != nil {
		o.Metrics.WSConnections.Inc()
		defer o.Metrics.WSConnections.Dec()
	}
	c.SetReadLimit(wsReadLimit)
	_ = c.SetReadDeadline(time.Now().Add(2 * wsPingPeriod))
	c.SetPongHandler(func(string) error { return c.SetReadDeadline(time.Now().Add(2 * wsPingPeriod)) })

	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(2 * wsPingPeriod))
		}
	}()
	allowed := o.Guards.filter(principal)
	writeLoop(c, sub, allowed, closeReq, readerDone)
	StopReader(c, readerDone)
}

// writeLoop is the connection's only writer: events, pings and the close frame.
// Events of guarded topics the principal may not read are skipped.
func writeLoop(c *fws.Conn, sub *Subscription, allowed func(topic string) bool, closeReq chan [2]any, readerDone chan struct{}) {
	ping := time.NewTicker(wsPingPeriod)
	defer ping.Stop()
	for {
		select {
		case <-sub.Ready():
			for _, ev := range sub.Drain() {
				if !allowed(ev.Topic) {
					continue
				}
				_ = c.SetWriteDeadline(time.Now().Add(wsWriteWait))
				if err := c.WriteMessage(websocket.TextMessage, ev.Frame()); err != nil {
					return
				}
			}
		case <-sub.Done():
			WriteClose(c, CloseSlow, "too slow: reconnect and resync")
			return
		case <-ping.C:
			if err := c.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteWait)); err != nil {
				return
			}
		case req := <-closeReq:
			WriteClose(c, req[0].(int), req[1].(string))
			return
		case <-readerDone:
			return
		}
	}
}
