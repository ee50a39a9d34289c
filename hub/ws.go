package hub

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

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
	// Auth, when set, checks a user's or token's credential again every
	// Recheck (default 30 s) while the socket is open, and closes it with
	// 4401 once the session has ended, the user is disabled or the token
	// revoked: access ends with its credential, not at the next reconnect.
	Auth    *Auth
	Recheck time.Duration
}

const (
	wsWriteWait  = 5 * time.Second
	wsPingPeriod = 20 * time.Second
	wsReadLimit  = 64 << 10
	// wsRecheckPeriod is how often an open socket's credential is checked
	// again (WSOptions.Recheck).
	wsRecheckPeriod = 30 * time.Second
)

// EventSocket serves GET /ws?topic=…(&topic=…): after authentication (cookie,
// bearer header or access_token, or a guest's credential that a guard
// admitter recognises) it streams {"type":"event",…} frames for
// the topics (patterns with + and # allowed). A socket that falls behind is
// closed with 4408 so the client can resubscribe and resync.
func EventSocket(o WSOptions) []fiber.Handler {
	if o.MaxQueue <= 0 {
		o.MaxQueue = 1 << 20
	}
	check := func(c *fiber.Ctx) error {
		if !IsWebSocketUpgrade(c) {
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
			if ValidTopic(string(t)) {
				ok, err := o.Guards.Allow(c.UserContext(), PrincipalOf(c), string(t))
				if err != nil {
					return &Error{Code: EUnavailable, Field: "topic", Message: fmt.Sprintf("cannot check access to %q now; retry", t)}
				}
				if !ok {
					return &Error{Code: EForbidden, Field: "topic", Message: fmt.Sprintf("not allowed to follow %q", t)}
				}
			}
			list = append(list, string(t))
		}
		c.Locals("principal", PrincipalOf(c))
		if cred, ok := c.Locals(localsCredential).(credential); ok {
			c.Locals("credential", cred) // copied: fiber's locals are not read after the upgrade
		}
		c.Locals("topics", list)
		return c.Next()
	}
	upgrade := Upgrade(func(c *WSConn) { serveEvents(c, o) }, UpgradeOptions{}) // Origin checked above
	return []fiber.Handler{socketPrincipal(o.Guards), check, upgrade}
}

// socketPrincipal admits a principal of the hub's Auth or, without one, a
// guest an admitter of the guards recognises (TopicGuards.Admit); 401
// otherwise.
func socketPrincipal(g *TopicGuards) fiber.Handler {
	require := RequireRole()
	return func(c *fiber.Ctx) error {
		if PrincipalOf(c) == nil {
			p, err := g.admit(c)
			if err != nil {
				return Errorf(EUnavailable, "cannot check credentials now; retry")
			}
			if p != nil {
				c.Locals(localsPrincipal, p)
			}
		}
		return require(c)
	}
}

func serveEvents(c *WSConn, o WSOptions) {
	topics, _ := c.Locals("topics").([]string)
	principal, _ := c.Locals("principal").(*Principal)
	sub, err := o.Bus.Subscribe(topics, o.MaxQueue)
	if err != nil {
		WriteClose(c, CloseBadRequest, err.Error())
		return
	}
	defer sub.Close()
	readerDone := make(chan struct{})
	acc := newTopicAccess(o.Guards, principal, topics)
	w := NewWSWriter(c, readerDone, WSWriterOptions{
		WriteWait: wsWriteWait, MaxBytes: o.MaxQueue, Ping: wsPingPeriod,
		Produce: func(b *WSBatch) error { return acc.produce(sub, b) },
	})
	w.StartPing()
	untrack, ok := o.Sockets.Track(w.Close)
	defer untrack()
	if !ok {
		close(readerDone)
		w.Finish()
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

	go func() {
		defer close(readerDone)
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(2 * wsPingPeriod))
		}
	}()
	var recheck func(context.Context) (bool, error)
	if cred, ok := c.Locals("credential").(credential); ok && o.Auth != nil {
		recheck = func(ctx context.Context) (bool, error) { return o.Auth.stillValid(ctx, cred) }
	}
	watch(w, sub, acc, readerDone, recheck, cmp.Or(o.Recheck, wsRecheckPeriod))
	StopReader(c, readerDone)
	w.Finish()
}

// watch turns what the socket follows into work for its writer until the
// socket ends: events to send, a lost subscription (4408), access that
// ended (4403), a credential that ended (4401, checked every period with
// recheck when there is one).
func watch(w *WSWriter, sub *Subscription, acc *topicAccess, readerDone chan struct{},
	recheck func(context.Context) (bool, error), period time.Duration) {
	var tick <-chan time.Time
	if recheck != nil {
		t := time.NewTicker(period)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
			ctx, cancel := context.WithTimeout(context.Background(), wsWriteWait)
			ok, err := recheck(ctx)
			cancel()
			if err == nil && !ok { // a database error is not a no: checked again next period
				w.Close(CloseUnauthorized, "signed out, disabled or revoked: log in again")
			}
		case <-acc.g.changes():
			if t := acc.lostNamed(); t != "" {
				w.Close(CloseForbidden, "no longer allowed to follow "+t)
			}
		case <-sub.Ready():
			w.Wake()
		case <-sub.Done():
			w.Close(CloseSlow, "too slow: reconnect and resync")
			<-w.Done()
			return
		case <-w.Done():
			return
		case <-readerDone:
			return
		}
	}
}

// topicAccess decides, per event, what a socket does with it: send it,
// skip it (a guarded topic the principal may not read, matched by one of
// its wildcards), or close the socket with 4403 (a topic it asked for by
// name and may no longer read: the client should know rather than wait).
type topicAccess struct {
	g     *TopicGuards
	named []string

	mu      sync.Mutex // the writer and the handler's watch both ask
	allowed func(topic string) bool
}

func newTopicAccess(g *TopicGuards, p *Principal, topics []string) *topicAccess {
	a := &topicAccess{g: g, allowed: g.filter(p)}
	for _, t := range topics {
		if ValidTopic(t) {
			a.named = append(a.named, t)
		}
	}
	return a
}

// event reports whether to send an event of topic, and whether the socket
// must close instead.
func (a *topicAccess) event(topic string) (send, stop bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.allowed(topic) {
		return true, false
	}
	return false, slices.Contains(a.named, topic)
}

// lostNamed returns a topic the socket named and may no longer follow, or "".
func (a *topicAccess) lostNamed() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range a.named {
		if !a.allowed(t) {
			return t
		}
	}
	return ""
}

// produce is the writer's step of an event socket: the subscription's
// events the principal may read, in order.
func (a *topicAccess) produce(sub *Subscription, b *WSBatch) error {
	for _, ev := range sub.Drain() {
		send, stop := a.event(ev.Topic)
		if stop {
			return &WSCloseError{Code: CloseForbidden, Reason: "no longer allowed to follow " + ev.Topic}
		}
		if send {
			b.Text(ev.Frame())
		}
	}
	return nil
}
