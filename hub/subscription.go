package hub

import (
	"context"
	"errors"
	"sync"
)

// ErrSlowSubscriber is why a subscription whose queue overflowed was dropped.
var ErrSlowSubscriber = errors.New("subscriber fell behind and was dropped")

// ErrClosed is the reason of a subscription closed by its owner.
var ErrClosed = errors.New("subscription closed")

// Subscription receives the events of the topics it matched. The owner
// waits on Ready, takes the queued events with Drain, and stops with Close.
// Done is closed when the subscription ends (closed, or dropped as slow).
type Subscription struct {
	bus      *Bus
	patterns []string // as subscribed, for Follow to subscribe again
	exact    []string
	maxBytes int
	ready    chan struct{}
	done     chan struct{}

	mu     sync.Mutex
	queue  []*Event
	bytes  int
	err    error
	closed bool
}

// push queues ev without blocking; false means the queue is over its bound.
func (s *Subscription) push(ev *Event) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return true
	}
	if s.bytes+ev.Size() > s.maxBytes {
		s.mu.Unlock()
		return false
	}
	s.queue = append(s.queue, ev)
	s.bytes += ev.Size()
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
	return true
}

// Ready receives a value whenever events may be waiting.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Done is closed when the subscription has ended; Err says why.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err returns why the subscription ended, or nil while it is live.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Drain returns and removes every queued event, oldest first.
func (s *Subscription) Drain() []*Event {
	s.mu.Lock()
	q := s.queue
	s.queue = nil
	s.bytes = 0
	s.mu.Unlock()
	return q
}

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() { s.bus.drop(s, ErrClosed) }

// close marks the subscription ended; true the first time.
func (s *Subscription) close(reason error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.closed = true
	s.err = reason
	s.queue = nil
	close(s.done)
	return true
}

// Follow hands each batch of the subscription's events to handle, on the
// calling goroutine, until ctx ends or the owner closes the subscription.
// When the bus drops it for falling behind, Follow subscribes again to the
// same topics with the same bound and then calls resync with the reason:
// events were lost in between, so the follower rebuilds from the current
// state. Follow closes the subscription it holds when it returns; it
// returns an error only when it could not subscribe again.
func (s *Subscription) Follow(ctx context.Context, handle func([]*Event), resync func(reason error)) error {
	sub := s
	defer func() { sub.Close() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.Ready():
			if evs := sub.Drain(); len(evs) > 0 {
				handle(evs)
			}
		case <-sub.Done():
			reason := sub.Err()
			if errors.Is(reason, ErrClosed) {
				return nil
			}
			next, err := sub.bus.Subscribe(sub.patterns, sub.maxBytes)
			if err != nil {
				return err
			}
			sub = next
			resync(reason)
		}
	}
}
