package displays

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/fasthttp/websocket"
	fws "github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
)

// helloWait is how long a new socket has to say hello.
const helloWait = 10 * time.Second

// conn is one /ws/display socket. Its handler goroutine reads; its writer
// goroutine owns everything the screen is sent and the state that decides it
// (display, topics, sent seqs). The dispatcher and the reader talk to the
// writer only through q.
type conn struct {
	svc    *Service
	ws     *fws.Conn
	q      *queue
	id     string // this socket, in display_status.conn_id
	ip     string
	agent  string
	hello  *clientMsg
	secret []byte // hash of a pairing screen's secret

	readerDone chan struct{}
	writerDone chan struct{}
	stopping   atomic.Bool // the writer is done: the reader must return

	// Indexes in svc; guarded by svc.mu.
	attached     []string
	attachedID   int64
	attachedCode string

	// Owned by the writer goroutine.
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
		if !fws.IsWebSocketUpgrade(c) {
			return hub.Errorf(hub.EInvalid, "websocket upgrade required")
		}
		if !s.originAllowed(c.Get(fiber.HeaderOrigin), c.Hostname()) {
			s.metrics.rejected.WithLabelValues("origin").Inc()
			return hub.Errorf(hub.EForbidden, "origin %q may not open display sockets (set COMMUNEHUB_ORIGINS)", c.Get(fiber.HeaderOrigin))
		}
		c.Locals("ip", c.IP())
		return c.Next()
	}
	upgrade := fws.New(s.serve, fws.Config{
		Origins:         []string{"*"}, // checked above, against the request's own host by default
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
		WriteBufferPool: &s.writePool,
		RecoverHandler: func(c *fws.Conn) {
			if r := recover(); r != nil {
				s.log.Error("displays: socket handler panicked", "panic", r)
			}
		},
	})
	return []fiber.Handler{check, upgrade}
}

// originAllowed admits requests without Origin (not a browser: the token
// still decides), origins in the configured list, or, with no list, an
// origin on the request's own host.
func (s *Service) originAllowed(origin, host string) bool {
	if origin == "" {
		return true
	}
	if len(s.o.Origins) > 0 {
		return slices.Contains(s.o.Origins, origin)
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.EqualFold(u.Hostname(), strings.Trim(host, "[]"))
}

// serve is the handler goroutine of one socket: it must block for the
// socket's whole life (the Conn is pooled and reused when it returns).
func (s *Service) serve(c *fws.Conn) {
	idb := make([]byte, 6)
	_, _ = rand.Read(idb)
	cn := &conn{
		svc: s, ws: c, q: newQueue(s.o.MaxQueue), id: s.o.Instance + "/" + hex.EncodeToString(idb),
		readerDone: make(chan struct{}), writerDone: make(chan struct{}), sent: map[string]uint64{},
	}
	cn.ip, _ = c.Locals("ip").(string)
	untrack, ok := s.o.Sockets.Track(func(code int, reason string) { cn.q.requestClose(code, reason) })
	defer untrack()
	if !ok {
		hub.WriteClose(c, hub.CloseGoingAway, "hub shutting down")
		return
	}
	c.SetReadLimit(maxFrame)
	_ = c.SetReadDeadline(time.Now().Add(helloWait))

	m, err := cn.read()
	if err == nil && m.Type != msgHello {
		err = badMsg("the first message must be hello, not %s", m.Type)
	}
	if err != nil {
		cn.closeOnReadError(err)
		return
	}
	cn.hello, cn.agent = m, m.Agent
	start, code, reason := s.greet(cn, m)
	if code != 0 {
		s.metrics.closes.WithLabelValues(closeLabel(code)).Inc()
		hub.WriteClose(c, code, reason)
		return
	}
	s.metrics.opened.Inc()
	go cn.writeLoop(start)
	cn.readLoop()
	close(cn.readerDone)
	<-cn.writerDone
	s.detach(cn)
	cn.q.shut()
	if cn.disp != nil {
		cn.stMu.Lock()
		cn.st.Online = false
		cn.stMu.Unlock()
		s.markDirty(cn)
	}
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
	disp   *Display // display mode
	paired bool     // say "paired" first (the screen was paired while away)
	code   string   // pairing mode
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
	for !cn.stopping.Load() {
		_ = cn.ws.SetReadDeadline(time.Now().Add(deadline))
		m, err := cn.read()
		if err != nil {
			if cn.stopping.Load() {
				return // the writer ended the socket
			}
			var pe *protocolError
			switch {
			case errors.As(err, &pe):
				cn.svc.metrics.rejected.WithLabelValues("malformed").Inc()
				cn.q.requestClose(hub.CloseBadRequest, pe.Reason)
			case errors.Is(err, websocket.ErrReadLimit):
				cn.svc.metrics.rejected.WithLabelValues("too_big").Inc()
				cn.svc.metrics.closes.WithLabelValues("1009").Inc()
			case isTimeout(err):
				cn.svc.metrics.closes.WithLabelValues("heartbeat").Inc()
			}
			return
		}
		switch m.Type {
		case msgHello:
			cn.q.requestClose(hub.CloseBadRequest, "hello was already received")
			return
		case msgPing:
			cn.touch(nil)
		case msgRendered:
			cn.touch(m)
		case msgAck:
			cn.touch(nil)
			cn.ack(m)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (cn *conn) ack(m *clientMsg) {
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

// cutOff aborts a write in progress to a screen whose queue overflowed; the
// writer then closes the socket with 4408.
func (cn *conn) cutOff() {
	_ = cn.ws.NetConn().SetWriteDeadline(time.Now())
}

// writeLoop is the socket's only writer: data, pings, commands and the close
// frame all go through it. It returns after closing the connection.
func (cn *conn) writeLoop(start startInfo) {
	s := cn.svc
	defer close(cn.writerDone)
	defer cn.stopReader()
	ping := time.NewTicker(s.o.Heartbeat)
	defer ping.Stop()
	renew := time.NewTimer(time.Hour)
	defer renew.Stop()

	if err := cn.begin(start, renew); err != nil {
		cn.finish(err)
		return
	}
	var b batch
	for {
		var err error
		select {
		case <-cn.q.wake:
			err = cn.flush(&b)
		case <-ping.C:
			err = cn.writeJSON(pingMsg{Type: "ping", Seq: s.position(cn.topics), Time: time.Now()})
		case <-renew.C:
			err = cn.renewCode(renew)
		case <-cn.readerDone:
			cn.q.take(&b)
			if b.close != nil {
				err = errClose{b.close}
			} else {
				err = errReaderDone
			}
		}
		if err != nil {
			cn.finish(err)
			return
		}
	}
}

var errReaderDone = errors.New("reader done")

// errClose carries a close the writer must send.
type errClose struct{ *closeReq }

func (e errClose) Error() string { return e.reason }

// finish sends the close frame an error calls for.
func (cn *conn) finish(err error) {
	s := cn.svc
	var ec errClose
	switch {
	case errors.As(err, &ec):
		s.metrics.closes.WithLabelValues(closeLabel(ec.code)).Inc()
		hub.WriteClose(cn.ws, ec.code, ec.reason)
	case errors.Is(err, errReaderDone):
	case isTimeout(err):
		s.metrics.slow.WithLabelValues("write_timeout").Inc()
		hub.WriteClose(cn.ws, CloseSlow, "too slow: reconnect and resync")
	default:
		s.log.Debug("displays: write failed", "err", err)
	}
}

// stopReader ends the reader once the writer is done: it gives the peer a
// moment to answer a close frame, then expires the read deadline until the
// reader notices. (Closing a hijacked fasthttp connection does not interrupt
// a blocked read; the connection closes when the handler returns.)
func (cn *conn) stopReader() {
	cn.stopping.Store(true)
	t := time.NewTimer(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-cn.readerDone:
			return
		case <-t.C:
			_ = cn.ws.NetConn().SetReadDeadline(time.Now())
			t.Reset(50 * time.Millisecond)
		}
	}
}

// begin sends the first messages: the pairing code, or the screen's state.
func (cn *conn) begin(st startInfo, renew *time.Timer) error {
	if st.disp == nil {
		cn.code, cn.codeExp = st.code, st.exp
		cn.svc.attach(cn, 0, st.code, nil)
		renew.Reset(time.Until(st.exp))
		return cn.writeJSON(pairingMsg{Type: "pairing", Code: st.code, ExpiresAt: st.exp, Build: cn.svc.o.Build,
			Heartbeat: cn.svc.o.Heartbeat.Seconds()})
	}
	if st.paired {
		if err := cn.writeJSON(pairedMsg{Type: "paired", DisplayID: st.disp.ID, Name: st.disp.Name}); err != nil {
			return err
		}
	}
	return cn.startDisplay(st.disp, cn.hello)
}

// renewCode gives a waiting screen a fresh code when its code expires.
func (cn *conn) renewCode(renew *time.Timer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	code, exp, err := cn.svc.store.waitingPairing(ctx, cn.secret, cn.ip, cn.svc.o.PairingTTL)
	if err != nil {
		return errClose{&closeReq{CloseTryAgain, "cannot renew the pairing code; retry"}}
	}
	return cn.begin(startInfo{code: code, exp: exp}, renew)
}

// startDisplay attaches the socket to a display's topics and sends its state:
// the missed events in order when the resume positions allow it, else a
// snapshot; then any command still waiting for the screen.
func (cn *conn) startDisplay(d *Display, resume *clientMsg) error {
	s := cn.svc
	cn.disp = d
	cn.topics = d.topics(s.o.Bus.Latest)
	clear(cn.sent)
	s.attach(cn, d.ID, "", cn.topics) // before reading state: nothing published after it is missed
	cn.stMu.Lock()
	if cn.st.DisplayID == 0 {
		cn.st = screenStatus{DisplayID: d.ID, ConnID: cn.id, Online: true, ConnectedAt: time.Now(), IP: cn.ip,
			Agent: cn.agent, Build: cn.hello.Build, LastSeen: time.Now()}
	}
	cn.stMu.Unlock()
	s.markDirty(cn)

	var err error
	if events, ok := cn.replay(resume); ok {
		err = cn.sendResumed(events)
	} else {
		err = cn.sendSnapshot()
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmds, err := s.store.pendingCommands(ctx, d.ID)
	if err != nil {
		s.log.Warn("displays: cannot load pending commands", "display", d.ID, "err", err)
		return nil
	}
	for _, c := range cmds {
		if err := cn.sendCommand(c); err != nil {
			return err
		}
	}
	return nil
}

// replay returns the events a resuming screen missed, when every topic of
// its layout can be replayed from its position in this epoch.
func (cn *conn) replay(m *clientMsg) ([]*hub.Event, bool) {
	if m == nil || m.Epoch != cn.svc.epoch || len(m.Resume) == 0 {
		return nil, false
	}
	// Each topic's events in seq order; topics are independent states, so
	// their relative order does not matter.
	var all []*hub.Event
	for _, t := range cn.topics {
		seq, ok := m.Resume[t]
		if !ok {
			return nil, false
		}
		evs, ok := cn.svc.o.Bus.Since(t, seq)
		if !ok {
			return nil, false
		}
		all = append(all, evs...)
		cn.sent[t] = seq
	}
	return all, true
}

func (cn *conn) welcome(typ string) welcome {
	s := cn.svc
	w := welcome{
		Type: typ, Seq: s.position(cn.topics), Epoch: s.epoch, Build: s.o.Build, ServerTime: time.Now(),
		Heartbeat: s.o.Heartbeat.Seconds(), Spread: s.o.ReloadSpread.Seconds(), Display: cn.disp,
		StaleAfter: make(map[string]float64, len(cn.topics)),
	}
	for _, t := range cn.topics {
		w.StaleAfter[t] = s.o.Stale[topicKind(t)].Seconds()
	}
	return w
}

func (cn *conn) sendSnapshot() error {
	s := cn.svc
	w := cn.welcome("snapshot")
	w.Topics = make(map[string]topicState, len(cn.topics))
	var pos uint64
	for _, t := range cn.topics {
		ts := topicState{Data: json.RawMessage("null")}
		if ev := s.o.Bus.Latest(t); ev != nil {
			tm := ev.Time
			ts = topicState{Seq: ev.Seq, Time: &tm, Data: ev.Data}
			if cn.disp.Classification == Public {
				ts.Data = redactPublic(t, ev.Data)
			}
		}
		w.Topics[t] = ts
		cn.sent[t] = ts.Seq
		pos += ts.Seq
	}
	w.Seq = pos
	s.metrics.snapshots.Inc()
	return cn.writeJSON(w)
}

func (cn *conn) sendResumed(events []*hub.Event) error {
	w := cn.welcome("resumed")
	w.Events = make([]json.RawMessage, 0, len(events))
	for _, ev := range events {
		w.Events = append(w.Events, cn.svc.frame(ev, cn.disp.Classification))
		cn.sent[ev.Topic] = ev.Seq
	}
	cn.svc.metrics.resumes.Inc()
	return cn.writeJSON(w)
}

func (cn *conn) sendCommand(c *Command) error {
	if c.ID <= cn.lastCmd {
		return nil
	}
	cn.lastCmd = c.ID
	return cn.writeJSON(commandMsg{Type: "command", Seq: cn.svc.position(cn.topics), ID: c.ID, Command: c.Command, Args: c.Args})
}

// flush writes what the queue holds.
func (cn *conn) flush(b *batch) error {
	s := cn.svc
	cn.q.take(b)
	if b.close != nil {
		return errClose{b.close}
	}
	if b.slow {
		return errClose{&closeReq{CloseSlow, "too slow: reconnect and resync"}}
	}
	if b.coalesced > 0 {
		s.metrics.coalesced.Add(float64(b.coalesced))
	}
	for _, m := range b.ctrl {
		if err := cn.control(m); err != nil {
			return err
		}
	}
	if cn.disp == nil {
		return nil
	}
	meetingMoved := false
	for _, ev := range b.events {
		last, ok := cn.sent[ev.Topic]
		if !ok || ev.Seq <= last {
			continue // not shown any more, or already in a snapshot or replay
		}
		if err := cn.write(s.frame(ev, cn.disp.Classification)); err != nil {
			return err
		}
		cn.sent[ev.Topic] = ev.Seq
		s.metrics.delivery.Observe(time.Since(ev.Time).Seconds())
		if cn.disp.ActiveLayout == LayoutMeeting && topicKind(ev.Topic) == "meetings" {
			meetingMoved = true
		}
	}
	if meetingMoved {
		if t := cn.disp.topics(s.o.Bus.Latest); !slices.Equal(t, cn.topics) {
			return cn.startDisplay(cn.disp, nil) // the room's meeting changed: show the new one
		}
	}
	return nil
}

// control handles one control message in the writer.
func (cn *conn) control(m ctrlMsg) error {
	switch {
	case m.config != nil:
		if cn.disp == nil {
			return nil
		}
		if m.config.RevokedAt != nil {
			return errClose{&closeReq{hub.CloseUnauthorized, "display revoked"}}
		}
		return cn.startDisplay(m.config, nil)
	case m.command != nil:
		if cn.disp == nil {
			return nil
		}
		return cn.sendCommand(m.command)
	case m.paired != 0:
		if cn.disp != nil {
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d, err := cn.svc.store.byToken(ctx, cn.secret)
		if err != nil || d == nil || d.ID != m.paired {
			return err // not this screen's secret after all (nil) or the database is down
		}
		if err := cn.writeJSON(pairedMsg{Type: "paired", DisplayID: d.ID, Name: d.Name}); err != nil {
			return err
		}
		return cn.startDisplay(d, nil)
	case m.resync:
		if cn.disp == nil {
			return nil
		}
		return cn.startDisplay(cn.disp, nil)
	}
	return nil
}

func (cn *conn) writeJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return cn.write(b)
}

func (cn *conn) write(b []byte) error {
	_ = cn.ws.SetWriteDeadline(time.Now().Add(cn.svc.o.WriteWait))
	if err := cn.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return err
	}
	cn.svc.metrics.sent.Inc()
	return nil
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
