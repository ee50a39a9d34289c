package hub

import (
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
)

// Close codes used across the hub's websockets.
const (
	CloseGoingAway    = 1001 // hub shutting down
	CloseTooBig       = 1009 // frame over the limit
	CloseBadRequest   = 4400 // malformed message
	CloseUnauthorized = 4401 // bad or revoked credentials
	CloseForbidden    = 4403
	CloseSlow         = 4408 // could not keep up; reconnect and resync
)

// Sockets tracks live websockets so shutdown can close each with 1001.
// Handlers Track a function that makes their writer send a close frame.
type Sockets struct {
	mu      sync.Mutex
	next    int
	closers map[int]func(code int, reason string)
	closing bool
	wg      sync.WaitGroup
}

// NewSockets returns an empty registry.
func NewSockets() *Sockets { return &Sockets{closers: map[int]func(int, string){}} }

// Track registers a live socket; call untrack when its handler returns.
// ok is false when the hub is already shutting down: close at once.
func (s *Sockets) Track(closeFn func(code int, reason string)) (untrack func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return func() {}, false
	}
	id := s.next
	s.next++
	s.closers[id] = closeFn
	s.wg.Add(1)
	return func() {
		s.mu.Lock()
		if _, live := s.closers[id]; live {
			delete(s.closers, id)
			s.wg.Done()
		}
		s.mu.Unlock()
	}, true
}

// Count returns the number of live sockets.
func (s *Sockets) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.closers)
}

// CloseAll asks every socket to close with code and refuses new ones, then
// waits up to timeout for their handlers to return.
func (s *Sockets) CloseAll(code int, reason string, timeout time.Duration) {
	s.mu.Lock()
	s.closing = true
	fns := make([]func(int, string), 0, len(s.closers))
	for _, f := range s.closers {
		fns = append(fns, f)
	}
	s.mu.Unlock()
	for _, f := range fns {
		f(code, reason)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}

// CloseMessage encodes a close frame payload.
func CloseMessage(code int, reason string) []byte {
	if len(reason) > 120 {
		reason = reason[:120]
	}
	return websocket.FormatCloseMessage(code, reason)
}

// WriteClose sends a close frame with a deadline; for use by a connection's
// single writer goroutine.
func WriteClose(c *WSConn, code int, reason string) {
	_ = c.WriteControl(websocket.CloseMessage, CloseMessage(code, reason), time.Now().Add(time.Second))
}

// StopReader ends a connection's reader goroutine after the writer is done:
// it gives the peer a moment to answer a close frame, then expires the read
// deadline. (Closing a hijacked fasthttp connection does not interrupt a
// blocked read; the connection is closed when the handler returns.)
func StopReader(c *WSConn, readerDone <-chan struct{}) {
	select {
	case <-readerDone:
		return
	case <-time.After(250 * time.Millisecond):
	}
	_ = c.SetReadDeadline(time.Now())
	<-readerDone
}

// OriginAllowed is the websocket Origin check every socket uses: requests
// without Origin (not a browser; credentials still decide) pass; with an
// allow-list the origin must be in it; without one it must be the request's
// own host:port (same origin).
func OriginAllowed(origin, host string, allowed []string) bool {
	if origin == "" {
		return true
	}
	if len(allowed) > 0 {
		for _, a := range allowed {
			if strings.EqualFold(strings.TrimRight(a, "/"), origin) {
				return true
			}
		}
		return false
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}
