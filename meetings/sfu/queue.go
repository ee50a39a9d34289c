package sfu

import "sync"

// actionQueue is an unbounded FIFO of closures for a loop goroutine. Posting
// never blocks, so Pion callbacks and other participants can always hand
// work to a participant without waiting for it.
type actionQueue struct {
	mu     sync.Mutex
	items  []func()
	closed bool
	ready  chan struct{} // one token while items is non-empty
}

func newActionQueue() *actionQueue {
	return &actionQueue{ready: make(chan struct{}, 1)}
}

// post appends f; it returns false when the queue is closed.
func (q *actionQueue) post(f func()) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, f)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// drain returns the queued closures and empties the queue.
func (q *actionQueue) drain() []func() {
	q.mu.Lock()
	items := q.items
	q.items = nil
	q.mu.Unlock()
	return items
}

// close refuses further posts and returns what was still queued.
func (q *actionQueue) close() []func() {
	q.mu.Lock()
	q.closed = true
	items := q.items
	q.items = nil
	q.mu.Unlock()
	return items
}
