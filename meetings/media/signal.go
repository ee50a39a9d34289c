package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/meetings"
	"github.com/communehub/communehub/meetings/sfu"
)

// Websocket timings and limits of the signaling connection.
const (
	sigWriteWait   = 5 * time.Second
	sigPingPeriod  = 20 * time.Second
	sigQueueBytes  = 1 << 20          // queued output beyond this closes the socket (slow client)
	sigCallTimeout = 10 * time.Second // one SFU operation
	sigRate        = 20.0             // messages per second allowed on average…
	sigBurst       = 100              // …with this burst (ICE trickle, proceedings)
	sigMaxStrikes  = 10               // refused messages within strikeWindow before closing
	strikeWindow   = 30 * time.Second
	floodLimit     = 200 // messages dropped for rate before closing
	heartbeatEvery = 10 * time.Second
	idleRelease    = 5 * time.Second // an empty meeting keeps its owner claim this long (page reloads)
)

// Close codes of the signaling socket besides the hub's.
const (
	closeRedirect = 4302 // the meeting's media lives on another instance: see the redirect message
	closeFlood    = 4429 // too many messages
	closeSFU      = 4500 // the SFU closed the participant (see the bye message)
)

// closeRevoked (4401) closes a connection whose access ended while it was
// open: the invitee removed, their invite link re-issued, the meeting
// cancelled or closed. It is final: the page does not reconnect.
const closeRevoked = hub.CloseUnauthorized

// Service is the online side of meetings: the Pion SFU, the signaling
// websocket /ws/meetings/{id}, the meeting page and the stats endpoint. It
// records in PostgreSQL which instance carries each meeting's media and
// sends participants who reach another instance to it.
type Service struct {
	cfg     Config
	log     *slog.Logger
	engine  *sfu.Engine
	proc    *meetings.Proceedings
	bus     *hub.Bus
	owners  *owners
	sockets *hub.Sockets
	origins []string // allowed Origin headers of the signaling websocket besides the request's own host (hub.Deps)

	mu    sync.Mutex
	conns map[int64]map[*sigConn]struct{} // signaling connections per meeting on this instance
	idle  map[int64]time.Time             // meetings whose last connection left, and when
	seq   atomic.Uint64

	access      *hub.Subscription // meeting/+/access; followAccess owns it once Run starts
	revocations atomic.Uint64     // access announcements applied (see run)

	published atomic.Uint64 // bus events published (tests)
}

// New returns the online side of meetings; Start opens the SFU's
// sockets. proc resolves invitees and carries proceedings messages;
// d.Bus receives meeting/{id}/media.
func New(cfg Config, proc *meetings.Proceedings, d hub.Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.OwnerStaleAfter <= 0 {
		cfg.OwnerStaleAfter = 30 * time.Second
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sockets := d.Sockets
	if sockets == nil {
		sockets = hub.NewSockets()
	}
	return &Service{
		cfg: cfg, log: log, proc: proc, bus: d.Bus, sockets: sockets, origins: d.Origins,
		owners: &owners{pool: d.Pool, instance: cfg.InstanceID, baseURL: strings.TrimRight(cfg.PublicURL, "/"), stale: cfg.OwnerStaleAfter},
		conns:  map[int64]map[*sigConn]struct{}{}, idle: map[int64]time.Time{},
	}, nil
}

// Start forgets this instance's stale claims (from before a crash) and
// opens the SFU's sockets; Close closes them.
func (m *Service) Start(ctx context.Context) error {
	if err := m.owners.releaseAll(ctx); err != nil {
		return fmt.Errorf("media: release stale claims: %w", err)
	}
	if m.bus != nil && m.proc != nil {
		// Subscribed before any connection exists, so that no announcement
		// made after a connection's access check is missed.
		sub, err := m.subscribeAccess()
		if err != nil {
			return fmt.Errorf("media: %w", err)
		}
		m.access = sub
	}
	e, err := sfu.New(m.cfg.sfuConfig(), sfu.Hooks{OnState: m.publishState}, m.log.With("part", "sfu"))
	if err != nil {
		if m.access != nil {
			m.access.Close()
		}
		return fmt.Errorf("media: %w", err)
	}
	m.engine = e
	return nil
}

// Engine returns the SFU (benchmarks, tests), once Start has opened it.
func (m *Service) Engine() *sfu.Engine { return m.engine }

// Mount registers the signaling socket, the stats endpoint and the page.
func (m *Service) Mount(r hub.Routes) {
	r.App.Get("/ws/meetings/:id", r.Authn, m.admit, hub.Upgrade(m.serve, hub.UpgradeOptions{
		ReadBufferSize: 8192, WriteBufferSize: 8192, Logger: m.log, // the Origin is checked by admit, which knows the request's own host
	}))
	r.API.Get("/meetings/:id/stats", hub.RequireRole(), m.handleStats)
	m.mountPage(r)
}

// Run refreshes this instance's claims and releases those of meetings that
// stayed empty, and closes the connections whose access ends (followAccess),
// until ctx ends; then it releases every claim. Close, after Run has
// returned, closes the SFU.
func (m *Service) Run(ctx context.Context) error {
	if m.access != nil {
		done := make(chan struct{})
		go func() { defer close(done); m.followAccess(ctx) }()
		defer func() { <-done }()
	}
	t := time.NewTicker(heartbeatEvery / 5)
	defer t.Stop()
	last := time.Time{}
	for {
		select {
		case <-ctx.Done():
			c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = m.owners.releaseAll(c)
			cancel()
			return nil
		case <-t.C:
		}
		var live, release []int64
		now := time.Now()
		m.mu.Lock()
		for id := range m.conns {
			live = append(live, id)
		}
		for id, since := range m.idle {
			if now.Sub(since) >= idleRelease {
				release = append(release, id)
				delete(m.idle, id)
			}
		}
		m.mu.Unlock()
		for _, id := range release {
			if err := m.owners.release(ctx, id); err != nil {
				m.log.Warn("release meeting media", "meeting", id, "err", err)
			}
		}
		if now.Sub(last) >= heartbeatEvery {
			last = now
			if err := m.owners.heartbeat(ctx, live); err != nil {
				m.log.Warn("media heartbeat", "err", err)
			}
			_ = m.owners.sweepTickets(ctx)
		}
	}
}

// Close closes every participant and the SFU's sockets (and the access
// subscription, when Run never took it).
func (m *Service) Close() error {
	if m.access != nil {
		m.access.Close()
	}
	if m.engine == nil { // never started
		return nil
	}
	return m.engine.Close()
}

// hold registers a connection of its meeting on this instance.
func (m *Service) hold(c *sigConn) {
	id := c.j.meeting.ID
	m.mu.Lock()
	if m.conns[id] == nil {
		m.conns[id] = map[*sigConn]struct{}{}
	}
	m.conns[id][c] = struct{}{}
	delete(m.idle, id)
	m.mu.Unlock()
}

func (m *Service) unhold(c *sigConn) {
	id := c.j.meeting.ID
	m.mu.Lock()
	if delete(m.conns[id], c); len(m.conns[id]) == 0 {
		delete(m.conns, id)
		m.idle[id] = time.Now()
	}
	m.mu.Unlock()
}

// join is what admit hands to the websocket handler.
type join struct {
	meeting   *meetings.Meeting
	who       *meetings.Invitee
	audioOnly bool
	viaTicket bool
	pass      string // the meeting pass a guest came with, checked again when their link is re-issued
	origin    string // scheme://host the client used, for URLs we give it
	seen      uint64 // Service.revocations before the access check
}

const localsJoin = "meetings.join"

// admit runs before the upgrade: who is this (ticket, session or meeting
// pass; an invite token is refused), are they invited (403 otherwise), is
// the origin allowed.
func (m *Service) admit(c *fiber.Ctx) error {
	id, err := meetingID(c)
	if err != nil {
		return err
	}
	if !hub.IsWebSocketUpgrade(c) {
		return hub.Errorf(hub.EInvalid, "websocket upgrade required")
	}
	if !m.originAllowed(c) {
		return hub.Errorf(hub.EForbidden, "origin %q is not allowed", c.Get(fiber.HeaderOrigin))
	}
	ctx := c.UserContext()
	j := &join{audioOnly: c.Query("audio") == "1", origin: c.Protocol() + "://" + c.Hostname(), seen: m.revocations.Load()}
	switch {
	case c.Query("ticket") != "":
		inv, err := m.owners.useTicket(ctx, id, c.Query("ticket"))
		if err != nil {
			return err
		}
		if j.who, err = m.inviteeByID(ctx, id, inv); err != nil {
			return err
		}
		j.viaTicket = true
	case c.Query("invite") != "": // redeemed only by opening the link
		return m.proc.RefuseInvite(ctx, id, c.Query("invite"))
	default: // a user's session, or a meeting pass
		if j.who, err = m.proc.Attendee(c, id); err != nil {
			return err
		}
		if j.who.UserID == nil { // a guest has no account: the pass admitted them
			j.pass = c.Cookies(meetings.PassCookie(id))
		}
	}
	if j.meeting, err = m.proc.Meeting(ctx, id); err != nil {
		return err
	}
	if j.meeting.State == "cancelled" || j.meeting.State == "closed" {
		return hub.Errorf(hub.EConflict, "meeting %d is %s", id, j.meeting.State)
	}
	c.Locals(localsJoin, j)
	return c.Next()
}

// meetingID is the meeting of an /…/:id route, read as the meetings API
// reads it.
func meetingID(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, hub.FieldError("id", "must be a positive number")
	}
	return id, nil
}

func (m *Service) originAllowed(c *fiber.Ctx) bool {
	return hub.OriginAllowed(c.Get(fiber.HeaderOrigin), string(c.Request().Host()), m.origins)
}

func (m *Service) inviteeByID(ctx context.Context, meeting, id int64) (*meetings.Invitee, error) {
	all, err := m.proc.Invitees(ctx, meeting)
	if err != nil {
		return nil, err
	}
	for _, i := range all {
		if i.ID == id {
			return i, nil
		}
	}
	return nil, hub.Errorf(hub.EForbidden, "no longer invited")
}

// inbound is one message read from the socket, or a reader verdict.
type inbound struct {
	data    []byte
	err     error // too large, not text
	flooded bool  // messages were dropped for rate
}

// sigConn is one signaling connection. The handler goroutine owns the
// participant and runs every message; the kernel's writer (hub.WSWriter)
// owns the socket's writes; the reader goroutine only reads.
type sigConn struct {
	m     *Service
	ws    *hub.WSConn
	j     *join
	id    string
	log   *slog.Logger
	part  *sfu.Participant
	proc  *meetings.ProcSession                // owned by the handler goroutine
	procP atomic.Pointer[meetings.ProcSession] // the same, for the writer, once joined is queued

	in         chan inbound
	readerDone chan struct{}
	revokeReq  chan string // why access ended; the handler goroutine closes
	w          *hub.WSWriter
	procFwd    chan struct{} // closed when forwardProc returns (nil: not started)

	outMu sync.Mutex // guards held, heldBytes and holding
	// The SFU starts sending (participants, and an offer for the down
	// connection when the room already has publications) as soon as Join
	// returns, before joined is queued; the client creates its peer
	// connections on joined and would drop such an offer, leaving its down
	// connection unnegotiated. Until joined is queued the SFU's messages
	// wait here.
	held      [][]byte
	heldBytes int
	holding   bool

	strikes []time.Time
	dropped atomic.Int64
	revoked atomic.Bool // closed because access ended: the participant left
}

func (m *Service) serve(ws *hub.WSConn) {
	j, _ := ws.Locals(localsJoin).(*join)
	if j == nil {
		return
	}
	c := &sigConn{
		m: m, ws: ws, j: j, id: "c" + strconv.FormatUint(m.seq.Add(1), 10),
		in: make(chan inbound, 64), readerDone: make(chan struct{}), revokeReq: make(chan string, 1),
		holding: true,
	}
	c.w = hub.NewWSWriter(ws, c.readerDone, hub.WSWriterOptions{
		WriteWait: sigWriteWait, MaxBytes: sigQueueBytes, Ping: sigPingPeriod, SlowReason: "too slow: reconnect",
		Produce: c.produce,
	})
	c.log = m.log.With("meeting", j.meeting.ID, "conn", c.id, "invitee", j.who.ID)
	untrack, ok := m.sockets.Track(c.requestClose)
	defer untrack()
	if !ok {
		hub.WriteClose(ws, hub.CloseGoingAway, "hub shutting down")
		return
	}
	ws.SetReadLimit(maxSignalFrame)
	_ = ws.SetReadDeadline(time.Now().Add(2 * sigPingPeriod))
	ws.SetPongHandler(func(string) error { return ws.SetReadDeadline(time.Now().Add(2 * sigPingPeriod)) })
	go c.readLoop()
	c.w.StartPing()
	clean := c.run() || c.revoked.Load()
	if c.part != nil {
		c.part.Close()
	}
	if c.proc != nil {
		c.proc.Detach(context.Background(), clean)
	}
	c.requestClose(websocket.CloseNormalClosure, "bye")
	<-c.w.Done()
	hub.StopReader(ws, c.readerDone)
	c.w.Finish()
	if c.procFwd != nil {
		<-c.procFwd
	}
}

// run admits the participant to the room and handles its messages until
// the connection ends; it reports whether the participant left cleanly.
func (c *sigConn) run() (clean bool) {
	m, j := c.m, c.j
	ctx := context.Background()
	m.hold(c)
	defer m.unhold(c)
	if m.revocations.Load() != j.seen && !m.stillAdmitted(ctx, c) {
		// An announcement was applied between the access check and hold:
		// it may have been about this connection, which it could not see.
		c.revoked.Store(true)
		c.requestClose(closeRevoked, "access revoked: ended")
		return false
	}
	inst, base, err := m.owners.claim(ctx, j.meeting.ID)
	if err != nil {
		c.log.Error("claim meeting media", "err", err)
		c.send("error", signalError{Code: hub.EUnavailable, Message: "cannot reach the database"})
		c.requestClose(websocket.CloseInternalServerErr, "unavailable")
		return false
	}
	if inst != m.cfg.InstanceID {
		c.redirect(ctx, base)
		return false
	}
	if m.proc != nil {
		s, err := m.proc.Attach(ctx, j.who)
		if err != nil {
			c.send("error", signalError{Code: hub.ErrorCode(err), Message: err.Error()})
			c.requestClose(hub.CloseForbidden, "cannot attend")
			return false
		}
		c.proc = s
	}
	part, err := m.engine.Join(strconv.FormatInt(j.meeting.ID, 10), sfu.PeerInfo{
		ID: c.id, Ref: j.who.ID, Name: j.who.Name, AudioOnly: j.audioOnly,
	}, c.sendMedia)
	if err != nil {
		c.send("error", signalError{Code: hub.EUnavailable, Message: err.Error()})
		c.requestClose(websocket.CloseInternalServerErr, "cannot join")
		return false
	}
	c.part = part
	joined := joinedMsg{
		ID: c.id, Meeting: meetingInfo{ID: j.meeting.ID, Title: j.meeting.Title, State: j.meeting.State},
		Me: j.who, ICEServers: m.engine.ICEServers(), Instance: m.cfg.InstanceID, AudioOnly: j.audioOnly,
	}
	if j.viaTicket {
		if t, err := m.owners.newTicket(ctx, j.meeting.ID, j.who.ID, rejoinTicketTTL); err == nil {
			joined.Rejoin = t
		}
	}
	c.release(frame("joined", joined))
	if c.proc != nil {
		// Only now does the writer forward the proceedings log: joined
		// stays the first message.
		c.procP.Store(c.proc)
		c.procFwd = make(chan struct{})
		go c.forwardProc(c.proc)
		c.w.Wake()
	}
	c.log.Info("joined meeting media")
	for {
		select {
		case msg := <-c.in:
			if done, clean := c.handle(ctx, msg); done {
				return clean
			}
		case <-part.Done():
			c.requestClose(closeSFU, "media closed")
			return false
		case reason := <-c.revokeReq:
			// After the message being handled, whose reply (the chair's
			// proc.ok for meeting.close) goes out before the close.
			c.requestClose(closeRevoked, "access revoked: "+reason)
			return false
		case <-c.readerDone:
			// drain what was read before the socket ended
			for {
				select {
				case msg := <-c.in:
					if done, clean := c.handle(ctx, msg); done {
						return clean
					}
				default:
					return false
				}
			}
		case <-c.w.Done():
			return false
		}
	}
}

// joinedMsg is the first message of a connection.
type joinedMsg struct {
	ID         string            `json:"id"` // this participant's id in the room
	Meeting    meetingInfo       `json:"meeting"`
	Me         *meetings.Invitee `json:"me"`
	ICEServers []sfu.ICEServer   `json:"iceServers"`
	Instance   string            `json:"instance"`
	AudioOnly  bool              `json:"audioOnly"`
	Rejoin     string            `json:"rejoin,omitempty"` // one-time ticket to reconnect with
}

type meetingInfo struct {
	ID    int64  `json:"id"`
	Title string `json:"title"`
	State string `json:"state"`
}

// redirect sends the participant to the instance that carries the meeting.
func (c *sigConn) redirect(ctx context.Context, base string) {
	t, err := c.m.owners.newTicket(ctx, c.j.meeting.ID, c.j.who.ID, redirectTicketTTL)
	if err != nil || base == "" {
		c.send("error", signalError{Code: hub.EUnavailable, Message: "the meeting is held on another hub instance that cannot be reached"})
		c.requestClose(websocket.CloseTryAgainLater, "owner unknown")
		return
	}
	id := strconv.FormatInt(c.j.meeting.ID, 10)
	wsBase := "ws" + strings.TrimPrefix(base, "http")
	q := "?ticket=" + url.QueryEscape(t)
	if c.j.audioOnly {
		q += "&audio=1"
	}
	c.send("redirect", map[string]string{"url": base + "/meetings/" + id + q, "ws": wsBase + "/ws/meetings/" + id + q})
	c.requestClose(closeRedirect, "meeting media is on another instance")
}

// handle runs one inbound message; done ends the connection.
func (c *sigConn) handle(ctx context.Context, msg inbound) (done, clean bool) {
	switch {
	case msg.flooded:
		if c.dropped.Load() > floodLimit {
			c.send("error", signalError{Code: "rate_limited", Message: "too many messages: closing"})
			c.requestClose(closeFlood, "too many messages")
			return true, false
		}
		c.send("error", signalError{Code: "rate_limited", Message: "too many messages: some were dropped"})
		return false, false
	case msg.err != nil:
		return c.strike(msg.err), false
	}
	typ, err := messageType(msg.data)
	if err != nil {
		return c.strike(err), false
	}
	if meetings.IsProceedingsType(typ) {
		if c.proc == nil {
			return c.strike(sigErr("unknown_type", "proceedings are not available here")), false
		}
		reply, err := c.proc.Handle(ctx, msg.data)
		if len(reply) > 0 {
			c.enqueue(reply)
		}
		if errors.Is(err, meetings.ErrSessionClosed) {
			c.requestClose(hub.CloseSlow, "proceedings session closed: reconnect")
			return true, false
		}
		if err != nil && hub.ErrorCode(err) == hub.EInvalid {
			// Malformed input counts towards closing; a refusal under the
			// rules (voting twice, say) is an answer, not abuse.
			return c.strikeSilently(), false
		}
		return false, false
	}
	sm, err := parseSignal(msg.data)
	if err != nil {
		return c.strike(err), false
	}
	cctx, cancel := context.WithTimeout(ctx, sigCallTimeout)
	defer cancel()
	switch sm.Type {
	case sigOffer:
		if c.j.who.Role == meetings.RoleObserver {
			return c.strike(sigErr(hub.EForbidden, "observers receive but do not publish")), false
		}
		sources := map[string]sfu.Source{}
		for mid, s := range sm.Sources {
			sources[mid] = sfu.Source(s)
		}
		err = c.part.Offer(cctx, sm.SDP, sources)
	case sigAnswer:
		err = c.part.Answer(cctx, sm.SDP)
	case sigCandidate:
		err = c.part.AddCandidate(cctx, sm.Target, *sm.Candidate)
	case sigMute:
		err = c.part.Mute(cctx, sfu.Source(sm.Source), *sm.Muted)
	case sigQuality:
		if sm.AudioOnly != nil {
			err = c.part.SetAudioOnly(cctx, *sm.AudioOnly)
		}
		if sm.DataSaver != nil && err == nil {
			err = c.part.SetDataSaver(cctx, *sm.DataSaver)
		}
	case sigPing:
		c.send("pong", nil)
	case sigLeave:
		c.requestClose(websocket.CloseNormalClosure, "left")
		return true, true
	}
	if err != nil {
		var pe *sfu.ProtocolError
		if errors.As(err, &pe) {
			return c.strike(sigErr(pe.Code, "%s", pe.Message)), false
		}
		if errors.Is(err, sfu.ErrClosed) {
			return true, false
		}
		c.log.Warn("signaling", "type", sm.Type, "err", err)
		return c.strike(sigErr("failed", "%v", err)), false
	}
	return false, false
}

// strike reports a refused message and closes the connection when they
// keep coming.
func (c *sigConn) strike(err error) bool {
	var se *signalError
	if !errors.As(err, &se) {
		se = sigErr("invalid", "%v", err)
	}
	c.send("error", se)
	return c.strikeSilently()
}

func (c *sigConn) strikeSilently() bool {
	now := time.Now()
	keep := c.strikes[:0]
	for _, t := range c.strikes {
		if now.Sub(t) < strikeWindow {
			keep = append(keep, t)
		}
	}
	c.strikes = append(keep, now)
	if len(c.strikes) >= sigMaxStrikes {
		c.requestClose(hub.CloseBadRequest, "too many bad messages")
		return true
	}
	return false
}

// send queues a message; it never blocks.
func (c *sigConn) send(msgType string, body any) { c.enqueue(frame(msgType, body)) }

func (c *sigConn) enqueue(b []byte) { c.queue(b, false) }

// sendMedia is the SFU's SendFunc: like send, but held back until joined
// has been queued (see held).
func (c *sigConn) sendMedia(msgType string, body any) { c.queue(frame(msgType, body), true) }

func (c *sigConn) queue(b []byte, media bool) {
	c.outMu.Lock()
	if media && c.holding {
		if c.heldBytes+len(b) > sigQueueBytes {
			c.outMu.Unlock()
			c.requestClose(hub.CloseSlow, "too slow: reconnect")
			return
		}
		c.held = append(c.held, b)
		c.heldBytes += len(b)
		c.outMu.Unlock()
		return
	}
	c.outMu.Unlock()
	c.w.Send(b) // past sigQueueBytes the writer closes with 4408
}

// release queues joined, then the SFU messages held until it, in order.
func (c *sigConn) release(joined []byte) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	c.w.Send(joined)
	for _, b := range c.held {
		c.w.Send(b)
	}
	c.held, c.heldBytes, c.holding = nil, 0, false
}

// produce is the writer's step: the queued messages in order, then the
// proceedings log events the session has queued (once joined is out).
func (c *sigConn) produce(b *hub.WSBatch) error {
	for _, it := range b.Items {
		if it.Msg != nil {
			b.Text(it.Msg)
		}
	}
	if proc := c.procP.Load(); proc != nil {
		for _, f := range proc.Frames() {
			b.Text(f)
		}
	}
	return nil
}

// forwardProc wakes the writer for the proceedings log until the socket
// ends; when the session's queue overflowed the socket closes with 4408
// (unless a close was asked for first: Detach after the handler's close).
func (c *sigConn) forwardProc(proc *meetings.ProcSession) {
	defer close(c.procFwd)
	for {
		select {
		case <-proc.Ready():
			c.w.Wake()
		case <-proc.Done():
			c.w.Close(hub.CloseSlow, "proceedings fell behind: reconnect and resync")
			return
		case <-c.w.Done():
			return
		}
	}
}

// revoke asks the handler goroutine to close the connection because its
// access ended; it never blocks.
func (c *sigConn) revoke(reason string) {
	c.revoked.Store(true)
	select {
	case c.revokeReq <- reason:
	default: // one is pending already
	}
}

func (c *sigConn) requestClose(code int, reason string) { c.w.Close(code, reason) }

// readLoop reads messages, enforces the size limit and the rate, and hands
// them to the handler goroutine.
func (c *sigConn) readLoop() {
	defer close(c.readerDone)
	tokens, last := float64(sigBurst), time.Now()
	for {
		mt, r, err := c.ws.NextReader()
		if err != nil {
			return
		}
		b, err := io.ReadAll(io.LimitReader(r, maxSignalMessage+1))
		if err != nil {
			return
		}
		msg := inbound{data: b}
		if len(b) > maxSignalMessage {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return // over the frame limit: the library closes with 1009
			}
			msg = inbound{err: sigErr("too_large", "messages are limited to %d bytes", maxSignalMessage)}
		} else if mt != websocket.TextMessage {
			msg = inbound{err: sigErr("invalid", "binary messages are not accepted")}
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(2 * sigPingPeriod))
		now := time.Now()
		tokens = min(sigBurst, tokens+now.Sub(last).Seconds()*sigRate)
		last = now
		if tokens < 1 {
			if c.dropped.Add(1)%20 == 1 || c.dropped.Load() > floodLimit {
				select {
				case c.in <- inbound{flooded: true}:
				default:
				}
			}
			continue
		}
		tokens--
		select {
		case c.in <- msg:
		default:
			c.dropped.Add(1)
		}
	}
}
