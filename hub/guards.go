package hub

import (
	"context"
	"sync"
	"time"
)

// TopicGuards restricts who may follow some topics on the /ws socket (for
// example a meeting's log, which names voters). Topics no guard matches are
// open to every authenticated principal.
type TopicGuards struct {
	mu     sync.Mutex
	guards []topicGuard
}

type topicGuard struct {
	pattern string
	allow   func(ctx context.Context, p *Principal, topic string) bool
}

// Guard restricts the topics matching pattern to principals for which allow
// returns true. allow may query the database; it is called once per topic
// per socket.
func (g *TopicGuards) Guard(pattern string, allow func(ctx context.Context, p *Principal, topic string) bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.guards = append(g.guards, topicGuard{pattern: pattern, allow: allow})
}

// Allow reports whether p may follow topic. A nil receiver allows everything.
func (g *TopicGuards) Allow(ctx context.Context, p *Principal, topic string) bool {
	if g == nil {
		return true
	}
	g.mu.Lock()
	guards := append([]topicGuard(nil), g.guards...)
	g.mu.Unlock()
	for _, gd := range guards {
		if Match(gd.pattern, topic) && (p == nil || !gd.allow(ctx, p, topic)) {
			return false
		}
	}
	return true
}

// filter returns a per-socket check that remembers each topic's answer.
// It runs on the socket's writer goroutine only.
func (g *TopicGuards) filter(p *Principal) func(topic string) bool {
	if g == nil {
		return func(string) bool { return true }
	}
	seen := map[string]bool{}
	return func(topic string) bool {
		ok, known := seen[topic]
		if !known {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			ok = g.Allow(ctx, p, topic)
			cancel()
			if len(seen) < 4096 {
				seen[topic] = ok
			}
		}
		return ok
	}
}
