package displays

import (
	"sync"
	"time"
)

// pairLimiter bounds how many pairing codes one address may ask for per
// window: an unpaired socket is unauthenticated, and each code is a row.
type pairLimiter struct {
	n      int
	window time.Duration

	mu    sync.Mutex
	start time.Time
	count map[string]int
}

func newPairLimiter(n int, window time.Duration) *pairLimiter {
	return &pairLimiter{n: n, window: window, count: map[string]int{}}
}

func (l *pairLimiter) allow(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := time.Now(); now.Sub(l.start) > l.window {
		l.start = now
		clear(l.count) // a fixed window keeps the map from growing
	}
	l.count[ip]++
	return l.count[ip] <= l.n
}
