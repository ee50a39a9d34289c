package displays

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
)

// helloWait is how long a new socket has to say hello.
const helloWait = 10 * time.Second

// conn is one /ws/display socket. Its handler goroutine reads; the
// kernel's writer, one goroutine at a time and only while there is
// something to send (writer.go), owns everything the screen is sent and
// the state that decides it (display, topics, sent seqs). The dispatcher,
// the reader and the timers talk to the writer only through w.
type conn struct {
	svc    *Service
	ws     *hub.WSConn
	w      *hub.WSWriter
	id     string // this socket, in display_status.conn_id
	ip     string
	agent  string
	build  string // of the page, from its hello
	secret []byte // hash of a pairing screen's secret

	readerDone chan struct{}

	renewTimer *time.Timer // pairing mode

	// Indexes in svc; guarded by svc.mu.
	attached     []string
	attachedID   int64
	attachedCode string

	// Owned by the running writer.
	out     *hub.WSBatch // the batch being produced
	frames  [][]byte     // produce's scratch space
	disp    *Display
	topics  []string
	sent    map[string]uint64
	lastCmd int64
	code    string
	codeExp time.Time

	// Status reported by the screen; guarded by stMu.
	stMu      sync.Mutex
	st        screenStatus
	stWritten time.Time // when st was last taken for the database
}

// websocketHandlers returns the /ws/display handlers: origin check, then
// upgrade.
func (s *Service) websocketHandlers() []fiber.Handler {
	check := func(c *fiber.Ctx) error {
		if !hub.IsWebSocketUpgrade(c) {
			return hub.Errorf(hub.EInvalid, "websocket upgrade required")
		}
		if !s.originAllowed(c.Get(fiber.HeaderOrigin), c.Hostname()) {
			s.metrics.rejected.WithLabelValues("origin").Inc()
			return hub.Errorf(hub.EForbidden, "origin %q may not open display sockets (set COMMUNEHUB_ORIGINS)", c.Get(fiber.HeaderOrigin))
		}
		c.Locals("ip", c.IP())
		return c.Next()
	}
	// The Origin is checked above, against the request's own host by default.
	upgrade := hub.Upgrade(s.serve, hub.UpgradeOptions{Logger: s.log})
	return []fiber.Handler{check, upgrade}
}

// originAllowed is the kernel's Origin rule with this service's list.
func (s *Service) originAllowed(origin, host string) bool {
	return hub.OriginAllowed(origin, host, s.d.Origins)
}

// serve is the handler goroutine of one socket: it must block for the
// socket's whole life (the connection is closed when it returns). It is
// kept small: the reader parks under it for as long as the screen is
// idle, and a shallow parked stack is one the runtime shrinks to 4 KB
// (hub.WSConn.WaitMessage); the hello and its checks run in open.
func (s *Service) serve(c *hub.WSConn) {
	var untrack func()
	defer func() {
		if untrack != nil {
			untrack()
		}
	}()
	cn := s.open(c, &untrack)
	if cn == nil {
		return
	}
	cn.readLoop()
	cn.end()
}

// open answers a new socket's hello. It returns the connection with its
// writer started, or nil when the socket was closed already. *untrack is
// set once the socket is tracked (Sockets.Track), for serve to call.
func (s *Service) open(c *hub.WSConn, untrack *func()) *conn {
	idb := make([]byte, 6)
	_, _ = rand.Read(idb)
	cn := &conn{
		svc: s, ws: c, id: s.d.Instance + "/" + hex.EncodeToString(idb),
		readerDone: make(chan struct{}), sent: map[string]uint64{},
	}
	cn.w = cn.newWriter()
	cn.ip, _ = c.Locals("ip").(string)
	var ok bool
	*untrack, ok = s.d.Sockets.Track(cn.w.Close)
	if !ok {
		cn.readerEnded()
		hub.WriteClose(c, hub.CloseGoingAway, "hub shutting down")
		return nil
	}
	c.SetReadLimit(maxFrame)
	_ = c.SetReadDeadline(time.Now().Add(helloWait))

	// The hello is read and checked in a goroutine of its own: its
	// decoding and the database calls would grow this long-lived
	// goroutine's stack to 8 KB, and memory the runtime frees when it
	// shrinks the stack again is not returned to the system for long.
	var m *clientMsg
	var err error
	var start startInfo
	var code int
	var reason string
	aside(func() {
		if m, err = cn.read(); err == nil && m.Type != msgHello {
			err = badMsg("the first message must be hello, not %s", m.Type)
		}
		if err == nil {
			cn.agent, cn.build = m.Agent, m.Build
			start, code, reason = s.greet(cn, m)
		}
	})
	if err != nil {
		cn.readerEnded()
		cn.closeOnReadError(err)
		return nil
	}
	if code != 0 {
		cn.readerEnded()
		s.metrics.closes.WithLabelValues(closeLabel(code)).Inc()
		hub.WriteClose(c, code, reason)
		return nil
	}
	s.metrics.opened.Inc()
	start.resume = m
	cn.w.StartPing()
	cn.w.Control(ctrlMsg{start: &start})
	return cn
}

// end is called by the handler once the read loop ended.
func (cn *conn) end() {
	// Sends a close asked for by the reader (a bad message) or by shutdown
	// that no writer sent yet.
	cn.readerEnded()
	if cn.renewTimer != nil {
		cn.renewTimer.Stop()
	}
	cn.svc.detach(cn)
	if cn.disp != nil {
		cn.svc.markOffline(cn)
	}
}

// readerEnded is called by the handler once it reads no more (the read
// loop ended, or the hello failed before it began): it releases a writer
// waiting for the reader and waits for any writer to finish (hub.WSWriter
// Finish), so that the handler may write its own close frame and return,
// after which the connection is released. A writer can be running even
// before the read loop: a shutdown or a close request may have queued a
// close meanwhile.
func (cn *conn) readerEnded() {
	close(cn.readerDone)
	cn.w.Finish()
}

// read reads one client message.
func (cn *conn) read() (*clientMsg, error) {
	typ, b, err := cn.ws.ReadMessage()
	if err != nil {
		return nil, err
	}
	if typ != websocket.TextMessage {
		return nil, badMsg("binary messages are not part of the protocol")
	}
	return parseClientMsg(b)
}

// readAside reads one client message and decodes it in a goroutine of
// its own: the decoder's depth would grow the reader's stack to 8 KB, and
// a long-lived goroutine's stack is what an idle screen costs most.
func (cn *conn) readAside() (*clientMsg, error) {
	typ, b, err := cn.ws.ReadMessage()
	if err != nil {
		return nil, err
	}
	if typ != websocket.TextMessage {
		return nil, badMsg("binary messages are not part of the protocol")
	}
	if m, ok := parseRead(b); ok {
		return m, nil // the frequent report, decoded here without the stack encoding/json needs
	}
	var m *clientMsg
	aside(func() { m, err = parseClientMsg(b) })
	return m, err
}

// aside runs f in a goroutine of its own and waits for it, so that the
// stack f needs grows there and not on the socket's long-lived reader. A
// panic in f is raised again here, on the reader, where the upgrade's
// recover closes the one socket instead of the process ending.
func aside(f func()) {
	var p any
	done := make(chan struct{})
	go func() {
		defer func() { p = recover(); close(done) }()
		f()
	}()
	<-done
	if p != nil {
		panic(p)
	}
}

// closeOnReadError answers a failed read before the writer started.
func (cn *conn) closeOnReadError(err error) {
	var pe *protocolError
	switch {
	case errors.As(err, &pe):
		cn.svc.metrics.rejected.WithLabelValues("malformed").Inc()
		cn.svc.metrics.closes.WithLabelValues("4400").Inc()
		hub.WriteClose(cn.ws, hub.CloseBadRequest, pe.Reason)
	case errors.Is(err, websocket.ErrReadLimit):
		cn.svc.metrics.rejected.WithLabelValues("too_big").Inc()
		cn.svc.metrics.closes.WithLabelValues("1009").Inc() // the library sent 1009
	}
}

// startInfo tells the writer how to begin.
type startInfo struct {
	disp   *Display   // display mode
	paired bool       // say "paired" first (the screen was paired while away)
	resume *clientMsg // the hello, with the screen's resume positions
	code   string     // pairing mode
	exp    time.Time
}

// greet authenticates a hello. It returns a non-zero close code when the
// socket must close: 4401 for an unknown or revoked token (the screen then
// shows a pairing code), 1013 when the hub cannot tell right now.
func (s *Service) greet(cn *conn, m *clientMsg) (startInfo, int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if m.Token != "" {
		d, err := s.store.byToken(ctx, hashToken(m.Token))
		switch {
		case err != nil:
			s.log.Warn("displays: cannot check a display token", "err", err)
			return startInfo{}, CloseTryAgain, "cannot check the token now; retry"
		case d == nil:
			s.metrics.rejected.WithLabelValues("bad_token").Inc()
			return startInfo{}, hub.CloseUnauthorized, "unknown or revoked display token"
		}
		return startInfo{disp: d}, 0, ""
	}
	cn.secret = hashToken(m.Pair)
	d, err := s.store.byToken(ctx, cn.secret)
	if err != nil {
		return startInfo{}, CloseTryAgain, "cannot register the screen now; retry"
	}
	if d != nil {
		return startInfo{disp: d, paired: true}, 0, ""
	}
	if !s.limiter.allow(cn.ip) {
		s.metrics.rejected.WithLabelValues("pairing_rate").Inc()
		return startInfo{}, CloseTryAgain, "too many pairing requests from this address; retry later"
	}
	if n, err := s.store.countPairings(ctx); err != nil || n >= s.o.MaxPairing {
		return startInfo{}, CloseTryAgain, "too many screens waiting to be paired; retry later"
	}
	code, exp, err := s.store.waitingPairing(ctx, cn.secret, cn.ip, s.o.PairingTTL)
	if err != nil {
		s.log.Warn("displays: cannot register a pairing code", "err", err)
		return startInfo{}, CloseTryAgain, "cannot register the screen now; retry"
	}
	return startInfo{code: code, exp: exp}, 0, ""
}

// readLoop reads until the socket fails or the screen breaks the protocol.
func (cn *conn) readLoop() {
	deadline := cn.svc.silentLimit()
	for !cn.w.Stopping() {
		_ = cn.ws.SetReadDeadline(time.Now().Add(deadline))
		// Idle, the reader waits here, not in the library (a smaller stack).
		err := cn.ws.WaitMessage()
		var m *clientMsg
		if err == nil {
			m, err = cn.readAside()
		}
		if err != nil {
			if cn.w.Stopping() {
				return // the writer ended the socket
			}
			var pe *protocolError
			switch {
			case errors.As(err, &pe):
				cn.svc.metrics.rejected.WithLabelValues("malformed").Inc()
				cn.w.Close(hub.CloseBadRequest, pe.Reason)
			case errors.Is(err, websocket.ErrReadLimit):
				cn.svc.metrics.rejected.WithLabelValues("too_big").Inc()
				cn.svc.metrics.closes.WithLabelValues("1009").Inc()
			case hub.IsTimeout(err):
				cn.svc.metrics.closes.WithLabelValues("heartbeat").Inc()
			}
			return
		}
		switch m.Type {
		case msgHello:
			cn.w.Close(hub.CloseBadRequest, "hello was already received")
			return
		case msgPing:
			cn.touch(nil)
		case msgRendered:
			cn.touch(m)
		case msgRead:
			cn.w.Read(m.N)
		case msgAck:
			cn.touch(nil)
			cn.ack(m)
		}
	}
}

// ack records a screen's acknowledgement of a command, in a goroutine of
// its own (the database call would grow the reader's stack) that the
// reader waits for.
func (cn *conn) ack(m *clientMsg) {
	aside(func() { cn.recordAck(m) })
}

func (cn *conn) recordAck(m *clientMsg) {
	id := cn.displayID()
	if id == 0 {
		return
	}
	ok := m.OK == nil || *m.OK
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cn.svc.store.ack(ctx, id, m.ID, ok, m.Result); err != nil {
		cn.svc.log.Warn("displays: cannot record an acknowledgement", "display", id, "command", m.ID, "err", err)
	}
}

func (cn *conn) displayID() int64 {
	cn.stMu.Lock()
	defer cn.stMu.Unlock()
	return cn.st.DisplayID
}

func closeLabel(code int) string {
	switch code {
	case hub.CloseGoingAway:
		return "1001"
	case hub.CloseTooBig:
		return "1009"
	case CloseTryAgain:
		return "1013"
	case hub.CloseBadRequest:
		return "4400"
	case hub.CloseUnauthorized:
		return "4401"
	case CloseSlow:
		return "4408"
	}
	return "other"
}
