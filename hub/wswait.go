package hub

import (
	"bufio"
	"net"
	"reflect"
	"syscall"
	"unsafe"

	"github.com/fasthttp/websocket"
)

// wsWait lets a socket's reader wait for the peer's next message without
// parking inside the websocket library: a goroutine parked in ReadMessage
// sits about 1.8 KB deep (the library's frame parser, bufio, fasthttp's
// hijacked connection, the poller), too deep for the runtime to shrink its
// stack below 8 KB; parked here it is about 1 KB deep and keeps 4 KB.
type wsWait struct {
	raw syscall.RawConn
	br  *bufio.Reader // the library's reader: bytes already read from the socket
}

// newWSWait returns the waiter of ws, whose reads go straight to the TCP
// connection nc, or nil when the library's reader cannot be seen (then
// WaitMessage returns at once and the reader parks in ReadMessage as before).
func newWSWait(ws *websocket.Conn, nc net.Conn) *wsWait {
	sc, ok := nc.(syscall.Conn)
	if !ok || !canPeek {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	br := libraryReader(ws)
	if br == nil {
		return nil
	}
	return &wsWait{raw: raw, br: br}
}

// libraryReader returns the websocket library's buffered reader of ws,
// which it keeps in an unexported field, read here by reflection: any
// change there gives nil (TestWaitMessageParksShallow notices).
func libraryReader(ws *websocket.Conn) *bufio.Reader {
	f := reflect.ValueOf(ws).Elem().FieldByName("br")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*bufio.Reader]() || f.IsNil() {
		return nil
	}
	return (*bufio.Reader)(unsafe.Pointer(f.Pointer()))
}

// WaitMessage blocks until the peer has sent something to read, the read
// deadline passes (a timeout error, as ReadMessage would return) or the
// connection fails; then ReadMessage does not wait for long. A reader that
// calls it before each ReadMessage from a shallow frame parks with a small
// stack while the socket is idle, which is most of a wall screen's life.
// (A control frame wakes it too, and ReadMessage then waits inside the
// library for the next data message: it helps a socket whose peer sends
// data, as a wall screen's heartbeat is, not one that only answers pings.)
// Only the connection's reader may call it.
func (c *WSConn) WaitMessage() error {
	w := c.wait
	if w == nil || w.br.Buffered() > 0 {
		return nil
	}
	return w.raw.Read(peekReadable)
}
