package hub

import (
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
