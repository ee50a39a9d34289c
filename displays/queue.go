package displays

import (
	"sync"

	"github.com/communehub/communehub/hub"
)

// queue is one connection's outbox, filled by the dispatcher and the reader
// and emptied by the connection's writer goroutine. It never blocks a
// producer. Data events coalesce to the latest per topic (every event is a
// topic's full state, so an older one that was not sent yet is worthless);
// control messages (config changes, commands, pairing) are kept in order.
// When the pending bytes pass max the queue marks itself slow and drops its
// content: the writer then closes the socket with 4408 and the display
// resynchronises on reconnect.
type queue struct {
	max    int
	notify func() // called after each push, outside the lock: starts the writer

	mu     sync.Mutex
	events map[string]*hub.Event // latest unsent event per topic
	order  []string              // topics of events, oldest first
	ctrl   []ctrlMsg
	bytes  int
	slow   bool
	closed bool
	close  *closeReq

	coalesced int // events replaced before they were sent, for the metric
}

// ctrlMsg is a control message for the writer; exactly one field is set.
type ctrlMsg struct {
	start   *startInfo // the hello was accepted: send the first messages
	config  *Display   // the display's configuration changed (or it was revoked)
	command *Command   // a remote command to deliver
	paired  int64      // the pairing screen was paired as this display
	resync  bool       // the fan-out lost events: send a fresh snapshot
	ping    bool       // heartbeat time
	renew   bool       // the pairing code expired
}

// closeReq asks the writer to close the socket with code and reason.
type closeReq struct {
	code   int
	reason string
}

func newQueue(max int) *queue {
	return &queue{max: max, events: map[string]*hub.Event{}}
}

func (q *queue) signal() {
	if q.notify != nil {
		q.notify()
	}
}

// pending reports whether anything waits for the writer.
func (q *queue) pending() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.order) > 0 || len(q.ctrl) > 0 || q.close != nil || q.slow
}

func (q *queue) isSlow() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.slow
}

// pushEvent queues ev, replacing an unsent older event of its topic. It
// returns false when the queue overflowed (and is now slow).
func (q *queue) pushEvent(ev *hub.Event) bool {
	q.mu.Lock()
	if q.closed || q.slow {
		q.mu.Unlock()
		return !q.slow
	}
	if old, ok := q.events[ev.Topic]; ok {
		if old.Seq >= ev.Seq {
			q.mu.Unlock()
			return true
		}
		q.bytes -= old.Size()
		q.coalesced++
	} else {
		q.order = append(q.order, ev.Topic)
	}
	q.events[ev.Topic] = ev
	q.bytes += ev.Size()
	if q.bytes > q.max {
		q.slow = true
		q.events, q.order, q.bytes = map[string]*hub.Event{}, nil, 0
		q.mu.Unlock()
		q.signal()
		return false
	}
	q.mu.Unlock()
	q.signal()
	return true
}

// pushCtrl queues a control message.
func (q *queue) pushCtrl(m ctrlMsg) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.ctrl = append(q.ctrl, m)
	q.mu.Unlock()
	q.signal()
}

// requestClose asks the writer to close with code; the first request wins.
func (q *queue) requestClose(code int, reason string) {
	q.mu.Lock()
	if q.close == nil {
		q.close = &closeReq{code: code, reason: reason}
	}
	q.mu.Unlock()
	q.signal()
}

// batch is what the writer takes from the queue in one go.
type batch struct {
	close     *closeReq
	slow      bool
	ctrl      []ctrlMsg
	events    []*hub.Event // in the order their topics were first queued
	coalesced int
	frames    [][]byte // the writer's scratch space
}

// take empties the queue into b, reusing b's slices.
func (q *queue) take(b *batch) {
	clear(b.ctrl) // no references kept to what was sent
	clear(b.events)
	clear(b.frames)
	b.ctrl, b.events = b.ctrl[:0], b.events[:0]
	q.mu.Lock()
	b.close, b.slow, b.coalesced = q.close, q.slow, q.coalesced
	q.coalesced = 0
	b.ctrl = append(b.ctrl, q.ctrl...)
	clear(q.ctrl)
	q.ctrl = q.ctrl[:0]
	for _, t := range q.order {
		b.events = append(b.events, q.events[t])
		delete(q.events, t)
	}
	q.order = q.order[:0]
	q.bytes = 0
	q.mu.Unlock()
}

// shut marks the queue closed; later pushes are ignored.
func (q *queue) shut() {
	q.mu.Lock()
	q.closed = true
	q.events, q.order, q.ctrl = nil, nil, nil
	q.mu.Unlock()
}
