package hub

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Readiness collects named checks for /readyz (database, MQTT, …).
type Readiness struct {
	mu     sync.Mutex
	checks map[string]func(context.Context) error
}

// NewReadiness returns an empty set of checks.
func NewReadiness() *Readiness { return &Readiness{checks: map[string]func(context.Context) error{}} }

// Add registers a check; it must return within the context's deadline.
func (r *Readiness) Add(name string, check func(context.Context) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks[name] = check
}

// Check runs every check concurrently and returns the failures by name.
func (r *Readiness) Check(ctx context.Context) map[string]string {
	r.mu.Lock()
	names := make([]string, 0, len(r.checks))
	fns := make([]func(context.Context) error, 0, len(r.checks))
	for n, f := range r.checks {
		names = append(names, n)
		fns = append(fns, f)
	}
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, f := range fns {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = f(ctx) }()
	}
	wg.Wait()
	down := map[string]string{}
	for i, err := range errs {
		if err != nil {
			down[names[i]] = err.Error()
		}
	}
	return down
}

// Names lists the registered checks.
func (r *Readiness) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.checks))
	for n := range r.checks {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
