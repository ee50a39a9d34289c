package hub

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
)

// TopicGuards restricts who may follow some topics on the /ws socket (for
// example a meeting's log, which names voters). Topics no guard matches are
// open to every authenticated principal, except a guest (KindGuest: a
// credential that Admit recognises), who may follow only topics a guard
// allows them.
//
// A socket asks the guards when it opens and again for each event of a
// topic whose answer it holds no longer than GuardRecheck, or that
// Invalidate made stale: access can end while a socket is open (an
// invitee removed from a meeting), and its events must stop then, not at
// the next reconnect.
type TopicGuards struct {
	mu        sync.Mutex
	guards    []topicGuard
	admitters []func(c *fiber.Ctx) (*Principal, error)
	changed   chan struct{} // closed and replaced by Invalidate
	gen       atomic.Uint64 // bumped by Invalidate
}

type topicGuard struct {
	pattern string
	allow   func(ctx context.Context, p *Principal, topic string) (bool, error)
}

// GuardRecheck is how long a socket trusts a guard's answer for a topic
// when nothing announced a change.
const GuardRecheck = time.Minute

// Guard restricts the topics matching pattern to principals for which allow
// returns true. allow may query the database; a socket calls it when it
// opens and then at most once per GuardRecheck per topic, or after an
// Invalidate. An error (the database unreachable) refuses a socket that
// opens, and keeps an open socket's earlier answer until the next event.
func (g *TopicGuards) Guard(pattern string, allow func(ctx context.Context, p *Principal, topic string) (bool, error)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.guards = append(g.guards, topicGuard{pattern: pattern, allow: allow})
}

// KindGuest is the Kind of a principal that an admitter (Admit)
// recognised: no hub role, and on /ws only the topics a guard allows it.
const KindGuest = "guest"

// Admit adds a way to recognise, on /ws, a credential the hub's Auth does
// not know — a guest's meeting pass — for a request that carries neither
// a session nor a token. resolve returns the principal (Kind KindGuest)
// or nil; an error (the database unreachable) refuses the socket with 503.
// The guards decide, as for anyone, what it may follow, and a topic no
// guard matches is closed to it.
func (g *TopicGuards) Admit(resolve func(c *fiber.Ctx) (*Principal, error)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.admitters = append(g.admitters, resolve)
}

// admit returns the guest principal an admitter recognises in c, or nil.
func (g *TopicGuards) admit(c *fiber.Ctx) (*Principal, error) {
	if g == nil {
		return nil, nil
	}
	g.mu.Lock()
	admitters := append([]func(*fiber.Ctx) (*Principal, error)(nil), g.admitters...)
	g.mu.Unlock()
	for _, f := range admitters {
		p, err := f(c)
		if err != nil || p != nil {
			if p != nil {
				p.Kind, p.Role = KindGuest, ""
			}
			return p, err
		}
	}
	return nil, nil
}

// guest reports whether p may follow only guarded topics.
func guest(p *Principal) bool { return p != nil && p.Kind == KindGuest }

// Invalidate makes every open socket ask the guards again: at once for the
// topics it named, at its next event for those its wildcards match. Call
// it when an answer may have changed.
func (g *TopicGuards) Invalidate() {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gen.Add(1)
	if g.changed != nil {
		close(g.changed)
	}
	g.changed = make(chan struct{})
}

// changes returns a channel closed at the next Invalidate.
func (g *TopicGuards) changes() <-chan struct{} {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.changed == nil {
		g.changed = make(chan struct{})
	}
	return g.changed
}

// InvalidateOn calls Invalidate for every bus event on topics matching
// patterns (announcements that access ended), until ctx ends. When the bus
// drops its subscription it subscribes again and invalidates, since
// announcements may have been lost in between.
func (g *TopicGuards) InvalidateOn(ctx context.Context, bus *Bus, patterns ...string) error {
	sub, err := bus.Subscribe(patterns, 1<<20)
	if err != nil {
		return err
	}
	g.Invalidate()
	return sub.Follow(ctx, func([]*Event) { g.Invalidate() }, func(error) { g.Invalidate() })
}

// Allow reports whether p may follow topic, or an error when a guard could
// not tell. A nil receiver allows everything.
func (g *TopicGuards) Allow(ctx context.Context, p *Principal, topic string) (bool, error) {
	if g == nil {
		return true, nil
	}
	g.mu.Lock()
	guards := append([]topicGuard(nil), g.guards...)
	g.mu.Unlock()
	matched := false
	for _, gd := range guards {
		if !Match(gd.pattern, topic) {
			continue
		}
		if p == nil {
			return false, nil
		}
		matched = true
		if ok, err := gd.allow(ctx, p, topic); err != nil || !ok {
			return false, err
		}
	}
	return matched || !guest(p), nil
}

// guarded reports whether any guard matches topic.
func (g *TopicGuards) guarded(topic string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, gd := range g.guards {
		if Match(gd.pattern, topic) {
			return true
		}
	}
	return false
}

// filter returns a per-socket check that remembers each topic's answer
// until it is stale (see TopicGuards). It runs on the socket's writer
// goroutine only.
func (g *TopicGuards) filter(p *Principal) func(topic string) bool {
	if g == nil {
		return func(string) bool { return true }
	}
	type answer struct {
		ok, guarded bool
		gen         uint64
		at          time.Time
	}
	seen := map[string]answer{}
	return func(topic string) bool {
		gen := g.gen.Load()
		a, known := seen[topic]
		if known && (!a.guarded || a.gen == gen && time.Since(a.at) < GuardRecheck) {
			return a.ok
		}
		if !known {
			a = answer{ok: !guest(p), guarded: g.guarded(topic)}
		}
		if a.guarded {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			ok, err := g.Allow(ctx, p, topic)
			cancel()
			if err != nil {
				// Keep the last answer (none: refuse); ask again at the next event.
				return known && a.ok
			}
			a.ok = ok
		}
		a.gen, a.at = gen, time.Now()
		if len(seen) >= 4096 {
			clear(seen) // a wildcard over very many topics: start over
		}
		seen[topic] = a
		return a.ok
	}
}
