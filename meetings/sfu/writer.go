package sfu

import "sync"

// item is one packet for one downTrack.
type item struct {
	dt *downTrack
	p  *packet
}

// writer is a subscriber's sending goroutine and its bounded queue. Readers
// of publications enqueue without blocking; when the queue is full the
// packet is dropped and counted, and video restarts at the next keyframe.
// One slow subscriber therefore costs only itself.
type writer struct {
	q    chan item
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func newWriter(size int) *writer {
	w := &writer{q: make(chan item, size), stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *writer) run() {
	defer close(w.done)
	for {
		select {
		case it := <-w.q:
			it.dt.write(it.p)
		case <-w.stop:
			return
		}
	}
}

func (w *writer) enqueue(dt *downTrack, p *packet) {
	select {
	case w.q <- item{dt, p}:
	default:
		dt.drops.Add(1)
		dt.sub.dropped.Add(1)
		if dt.pub.kind == kindVideo {
			dt.kick.Store(true)
		}
	}
}

// close stops the goroutine and waits for it. Later enqueues are dropped
// once the queue fills; the queue is garbage with the writer.
func (w *writer) close() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}
