package hub

import (
	"log/slog"
	"net"
	"reflect"
	"sync"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// WSConn is an upgraded websocket and the Fiber locals its request carried
// (what the handlers before the upgrade decided: principal, topics, the
// join). Nothing else of the request is kept.
type WSConn struct {
	*websocket.Conn
	locals []wsLocal
	wait   *wsWait // nil: WaitMessage returns at once
}

type wsLocal struct {
	key   string
	value any
}

// Locals returns the value the request's handlers stored under key, or nil.
func (c *WSConn) Locals(key string) any {
	for _, l := range c.locals {
		if l.key == key {
			return l.value
		}
	}
	return nil
}

// UpgradeOptions configures Upgrade. Each caller checks the Origin itself
// (OriginAllowed) before the upgrade, so the upgrader accepts any.
type UpgradeOptions struct {
	// ReadBufferSize is the websocket's read buffer (512 bytes by default:
	// the HTTP server's own goes back to its pool at the upgrade unless it
	// still holds bytes, NewApp).
	ReadBufferSize int
	// WriteBufferSize is the buffer of a data message written through the
	// library (512 by default, taken from a pool only while such a message
	// is written: WSWriter encodes its frames itself, so an idle socket
	// holds none).
	WriteBufferSize int
	// Logger gets a handler's panic (slog.Default when nil).
	Logger *slog.Logger
}

// IsWebSocketUpgrade reports whether the request asks for a websocket.
func IsWebSocketUpgrade(c *fiber.Ctx) bool {
	return websocket.FastHTTPIsWebSocketUpgrade(c.Context())
}

// wsWritePool is the websocket library's write buffer pool. The library
// takes from it only for a data message written through it, which no
// socket of the hub does (WSWriter writes frames itself): a socket holds no
// write buffer.
var wsWritePool sync.Pool

// Upgrade returns the handler that upgrades the request to a websocket and
// calls serve with it; serve owns the socket until it returns, and the
// connection is closed then.
//
// serve runs in a goroutine of its own, and the upgrade's goroutine
// returns at once: fasthttp then releases the request's context (its
// headers, URI and buffers, about 3 KB) instead of holding it for the
// socket's whole life, and the socket's goroutine starts with a small
// stack instead of the one the upgrade grew. This needs the server's
// KeepHijackedConns (NewApp sets it; without it fasthttp closes the
// connection when the upgrade's goroutine returns, so serve runs there). A socket whose first frame came in the same packet as
// the upgrade request is the exception: fasthttp hands on its request
// reader, holding that frame, and takes the reader back when the upgrade's
// goroutine returns; such a socket is served in that goroutine, as before.
//
// Compared with gofiber/contrib/websocket, which this replaces, the socket
// keeps only the request's locals (the contrib wrapper copied every
// header, cookie, query argument and parameter, about 1 KB).
func Upgrade(serve func(*WSConn), o UpgradeOptions) fiber.Handler {
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = 512
	}
	if o.WriteBufferSize <= 0 {
		o.WriteBufferSize = 512
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	up := websocket.FastHTTPUpgrader{
		ReadBufferSize:  o.ReadBufferSize,
		WriteBufferSize: o.WriteBufferSize,
		WriteBufferPool: &wsWritePool,
		CheckOrigin:     func(*fasthttp.RequestCtx) bool { return true }, // each caller checks it first
	}
	run := func(c *WSConn) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("websocket handler panicked", "panic", r)
			}
			_ = c.NetConn().Close()
		}()
		serve(c)
	}
	return func(fc *fiber.Ctx) error {
		c := &WSConn{}
		detach := fc.App().Server().KeepHijackedConns
		fc.Context().VisitUserValues(func(k []byte, v any) {
			c.locals = append(c.locals, wsLocal{key: string(k), value: v})
		})
		err := up.Upgrade(fc.Context(), func(ws *websocket.Conn) {
			c.Conn = ws
			if detach && readsTheConnection(ws.NetConn()) {
				c.wait = newWSWait(ws, ws.NetConn().(interface{ UnsafeConn() net.Conn }).UnsafeConn())
				go run(c)
				return
			}
			run(c)
		})
		if err != nil {
			return fiber.ErrUpgradeRequired
		}
		return nil
	}
}

// readsTheConnection reports whether fasthttp's hijacked connection nc
// reads straight from the TCP connection, not through the request's
// reader (which fasthttp takes back when the hijack handler returns).
// fasthttp says which only in an unexported field, read here by
// reflection: any change there answers false, and the socket is served as
// before, in the upgrade's goroutine (TestUpgradeServesFromItsOwnGoroutine
// notices).
func readsTheConnection(nc net.Conn) bool {
	u, ok := nc.(interface{ UnsafeConn() net.Conn })
	if !ok {
		return false
	}
	v := reflect.ValueOf(nc)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return false
	}
	r := v.Elem().FieldByName("r")
	if !r.IsValid() || r.Kind() != reflect.Interface || r.IsNil() {
		return false
	}
	raw := reflect.ValueOf(u.UnsafeConn())
	r = r.Elem()
	return r.Kind() == reflect.Pointer && raw.Kind() == reflect.Pointer &&
		r.Type() == raw.Type() && r.Pointer() == raw.Pointer()
}
