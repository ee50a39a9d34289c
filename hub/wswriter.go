package hub

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
)

// WSWriter is the one writer of a websocket, shared by every feature: it
// owns the socket's writes (messages, pings, the close frame), their
// deadlines, the byte bound of what waits, and the end of the reader once it
// has closed the socket. Producers never block: they queue (Send, Event,
// Control, Close) and the writer runs — one goroutine at a time, started
// when something is queued and ending when the queue is empty, so an idle
// socket costs no goroutine of its own.
//
// Everything queued when the writer runs is written in one go: the
// messages' websocket frames are encoded into one pooled buffer and handed
// to the connection in one write (a system call for many messages, and no
// write buffer held by an idle socket). Events are kept in order, every
// one of them, while the socket keeps up; once it does not — the oldest
// unsent event was published more than CoalesceAfter before the new one,
// or the unsent events pass CoalesceBytes — a new event replaces the
// unsent ones of its topic, since each event is its topic's full state.
// So a screen gets every state when the socket and the CPU allow, and the
// latest one within about CoalesceAfter when they do not. Past MaxBytes the
// socket is cut off with 4408.
type WSWriter struct {
	ws      *WSConn
	o       WSWriterOptions
	readers <-chan struct{} // closed when the connection's reader returns

	mu       sync.Mutex
	items    []WSItem
	bytes    int       // of items
	evBytes  int       // of the events among items
	oldest   time.Time // publish time of the oldest event among items
	ping     bool
	woken    bool // Wake was called since the last take
	slow     bool
	merged   int // events coalesced since the last take
	close    *wsClose
	writing  bool // a writer goroutine runs
	finished bool // no writer may start any more
	sent     bool // the close frame was sent, or the socket failed
	running  sync.WaitGroup

	// Flow control (WSWriterOptions.Window), once the peer reports what
	// it has read: messages written, the peer's last count, and whether
	// the writer stopped for the window.
	written, read int64
	flow, held    bool

	stopping  atomic.Bool // the writer ended the socket: the reader must return
	done      chan struct{}
	doneOnce  sync.Once
	pingTimer *time.Timer
	batch     WSBatch // the running writer's
}

// WSWriterOptions configures a WSWriter. Zero values take the defaults.
type WSWriterOptions struct {
	WriteWait     time.Duration // deadline of one write; default 5 s
	MaxBytes      int           // bytes waiting before the socket is cut off with 4408; default 1 MiB
	CoalesceBytes int           // event bytes waiting before events coalesce per topic; default MaxBytes/8
	CoalesceAfter time.Duration // how far behind (publish time of the oldest unsent event to the newest) before events coalesce per topic; default 25 ms
	SlowReason    string        // reason of the 4408 close; default "too slow: reconnect and resync"
	// Ping is the heartbeat period; 0 sends none.
	Ping time.Duration
	// PingMessage, when set, is called by the writer at each beat for a
	// text message to send instead of a websocket ping.
	PingMessage func() []byte
	// Produce, when set, is called by the writer with what was queued; it
	// turns events and control items into messages (WSBatch.Text). An
	// error it returns ends the socket: a *WSCloseError with its code,
	// anything else with none. Without Produce, events are sent as their
	// Frame and control items are ignored.
	Produce func(b *WSBatch) error
	// Closed, when set, is called once by the writer with the close code it
	// sent (0: none, the socket failed) and why it was cut off for being
	// slow ("queue_overflow", "write_timeout", or "").
	Closed func(code int, slow string)
	// Window, when set, is how many messages may be written that the peer
	// has not yet reported read (Read). It applies once the peer has
	// reported: a peer that never does is written to as fast as its socket
	// takes. The kernel's buffers on either side hold far more than a
	// slow reader should be behind (a loopback receiver's queue grew to
	// 400 KB, seconds of events), and a write that succeeds says nothing
	// of what the page has seen; only the page can. While the window is
	// full, events queue and coalesce as for a socket that is behind.
	Window int
}

// WSItem is one queued entry: a message, an event or a control item for
// the feature's Produce; exactly one is set.
type WSItem struct {
	Msg   []byte
	Event *Event
	Ctrl  any
}

func (it WSItem) size() int {
	switch {
	case it.Event != nil:
		return it.Event.Size()
	case it.Msg != nil:
		return len(it.Msg)
	}
	return 64
}

type wsClose struct {
	code   int
	reason string
}

// WSCloseError makes the writer close the socket with Code and Reason.
type WSCloseError struct {
	Code   int
	Reason string
}

func (e *WSCloseError) Error() string { return e.Reason }

// WSBatch is what the writer took from the queue in one run, and the
// messages it is going to write for it.
type WSBatch struct {
	Items     []WSItem // in the order they were queued
	Coalesced int      // events replaced before they were taken
	msgs      []wsMsg
}

type wsMsg struct {
	op    byte
	parts [][]byte // concatenated into one message
}

// Text queues a text message made of parts, concatenated (no copy until
// the frame is written).
func (b *WSBatch) Text(parts ...[]byte) {
	b.msgs = append(b.msgs, wsMsg{op: websocket.TextMessage, parts: parts})
}

// Messages is how many messages the batch will write.
func (b *WSBatch) Messages() int { return len(b.msgs) }

// NewWSWriter returns the writer of ws. readerDone is closed when the
// connection's reader returns; the writer waits for it after closing the
// socket (and makes the read end if the peer does not answer).
func NewWSWriter(ws *WSConn, readerDone <-chan struct{}, o WSWriterOptions) *WSWriter {
	if o.WriteWait <= 0 {
		o.WriteWait = 5 * time.Second
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 20
	}
	if o.CoalesceBytes <= 0 {
		o.CoalesceBytes = o.MaxBytes / 8
	}
	if o.CoalesceAfter <= 0 {
		o.CoalesceAfter = 25 * time.Millisecond
	}
	if o.SlowReason == "" {
		o.SlowReason = "too slow: reconnect and resync"
	}
	return &WSWriter{ws: ws, o: o, readers: readerDone, done: make(chan struct{})}
}

// StartPing starts the heartbeat (WSWriterOptions.Ping); the first beat
// comes one period later.
func (w *WSWriter) StartPing() {
	if w.o.Ping <= 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished || w.pingTimer != nil {
		return
	}
	w.pingTimer = time.AfterFunc(w.o.Ping, w.beat)
}

// Done is closed once the writer has ended the socket (close frame sent or
// a write failed).
func (w *WSWriter) Done() <-chan struct{} { return w.done }

// Stopping reports whether the writer ended the socket, so the reader's
// error is expected.
func (w *WSWriter) Stopping() bool { return w.stopping.Load() }

// Send queues a text message. It reports false when the queue overflowed
// and the socket is being cut off.
func (w *WSWriter) Send(msg []byte) bool { return w.push(WSItem{Msg: msg}) }

// Control queues an item for the feature's Produce.
func (w *WSWriter) Control(v any) { w.push(WSItem{Ctrl: v}) }

// Event queues an event; see WSWriter for when it coalesces. It reports
// false when the queue overflowed and the socket is being cut off.
func (w *WSWriter) Event(ev *Event) bool { return w.push(WSItem{Event: ev}) }

// Wake makes the writer run Produce although nothing was queued (the
// feature has its own source, such as a bus subscription).
func (w *WSWriter) Wake() {
	w.mu.Lock()
	w.woken = true
	w.mu.Unlock()
	w.kick()
}

// Read records that the peer has read n messages in all (its own count,
// cumulative, of every message this writer sent), which turns on flow
// control (WSWriterOptions.Window); a writer waiting for the window goes
// on. A count that goes back changes nothing; one past what was written
// counts as all of it.
func (w *WSWriter) Read(n int64) {
	if w.o.Window <= 0 {
		return
	}
	w.mu.Lock()
	w.flow = true
	if n = min(n, w.written); n > w.read {
		w.read = n // a count past what was written (messages sent around the writer) is all of it
	}
	resume := w.held && w.written-w.read < int64(w.o.Window)
	if resume {
		w.held = false
	}
	w.mu.Unlock()
	if resume {
		w.kick()
	}
}

// Close asks the writer to send what is queued, then a close frame with
// code; the first request wins.
func (w *WSWriter) Close(code int, reason string) {
	w.mu.Lock()
	if w.close == nil {
		w.close = &wsClose{code: code, reason: reason}
	}
	w.mu.Unlock()
	w.kick()
}

func (w *WSWriter) push(it WSItem) bool {
	n := it.size()
	w.mu.Lock()
	if w.finished || w.slow {
		ok := !w.slow
		w.mu.Unlock()
		return ok
	}
	if ev := it.Event; ev != nil {
		if w.evBytes > 0 && (w.evBytes+n > w.o.CoalesceBytes || ev.Time.Sub(w.oldest) > w.o.CoalesceAfter) {
			w.coalesceLocked(ev.Topic)
		}
		if w.evBytes == 0 || ev.Time.Before(w.oldest) {
			w.oldest = ev.Time
		}
		w.evBytes += n
	}
	w.items = append(w.items, it)
	w.bytes += n
	if w.bytes > w.o.MaxBytes {
		w.slow = true
		clear(w.items)
		w.items, w.bytes, w.evBytes = w.items[:0], 0, 0
		w.mu.Unlock()
		_ = w.ws.NetConn().SetWriteDeadline(time.Now()) // abort a write in progress
		w.kick()
		return false
	}
	w.mu.Unlock()
	w.kick()
	return true
}

// coalesceLocked drops the unsent events of topic: a newer one follows.
func (w *WSWriter) coalesceLocked(topic string) {
	keep := w.items[:0]
	w.oldest = time.Time{}
	for _, it := range w.items {
		if ev := it.Event; ev != nil {
			if ev.Topic == topic {
				n := ev.Size()
				w.bytes -= n
				w.evBytes -= n
				w.merged++
				continue
			}
			if w.oldest.IsZero() || ev.Time.Before(w.oldest) {
				w.oldest = ev.Time
			}
		}
		keep = append(keep, it)
	}
	clear(w.items[len(keep):])
	w.items = keep
}

func (w *WSWriter) beat() {
	w.mu.Lock()
	if w.finished {
		w.mu.Unlock()
		return // a beat racing the end must not re-arm the timer
	}
	w.ping = true
	w.pingTimer.Reset(w.o.Ping)
	w.mu.Unlock()
	w.kick()
}

// kick makes sure a writer runs for what was just queued.
func (w *WSWriter) kick() {
	w.mu.Lock()
	if w.writing || w.finished || (w.held && w.close == nil && !w.slow) {
		w.mu.Unlock()
		return
	}
	w.writing = true
	w.running.Add(1)
	w.mu.Unlock()
	go w.run()
}

// run writes until the queue is empty, or until the socket must close:
// then it sends the close frame, ends the reader and lets no other writer
// start.
func (w *WSWriter) run() {
	defer w.running.Done()
	b := &w.batch
	for {
		if w.waitWindow() {
			return
		}
		cl, slow, ping := w.take(b)
		if slow {
			w.end(CloseSlow, w.o.SlowReason, "queue_overflow")
			return
		}
		err := w.produce(b, ping)
		if err == nil {
			err = w.write(b)
		}
		var ce *WSCloseError
		switch {
		case err != nil && errors.As(err, &ce):
			w.end(ce.Code, ce.Reason, "")
		case err != nil && IsTimeout(err):
			why := "write_timeout"
			w.mu.Lock()
			if w.slow {
				why = "queue_overflow" // cut off by push
			}
			w.mu.Unlock()
			w.end(CloseSlow, w.o.SlowReason, why)
		case err != nil:
			w.end(0, "", "")
		case cl != nil:
			w.end(cl.code, cl.reason, "")
		default:
			w.mu.Lock()
			if len(w.items) == 0 && w.close == nil && !w.slow && !w.ping && !w.woken {
				w.writing = false
				w.items = nil  // an idle socket holds no queue
				clear(b.Items) // under mu: the next writer's take follows
				clear(b.msgs)
				b.Items, b.msgs = nil, nil
				w.mu.Unlock()
				return
			}
			w.mu.Unlock()
			continue
		}
		return
	}
}

// waitWindow stops the writer while the peer is a window behind (nothing
// is taken, so events go on coalescing in the queue); Read starts it
// again. A close or a cut-off is never held up.
func (w *WSWriter) waitWindow() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.flow || w.written-w.read < int64(w.o.Window) || w.close != nil || w.slow {
		return false
	}
	w.held, w.writing = true, false
	return true
}

// take moves the queue into b, reusing b's slices.
func (w *WSWriter) take(b *WSBatch) (cl *wsClose, slow, ping bool) {
	clear(b.Items)
	clear(b.msgs)
	b.Items, b.msgs = b.Items[:0], b.msgs[:0]
	w.mu.Lock()
	b.Items = append(b.Items, w.items...)
	clear(w.items)
	w.items, w.bytes, w.evBytes = w.items[:0], 0, 0
	cl, slow, ping = w.close, w.slow, w.ping
	b.Coalesced, w.merged = w.merged, 0
	w.ping, w.woken = false, false
	w.mu.Unlock()
	return cl, slow, ping
}

func (w *WSWriter) produce(b *WSBatch, ping bool) error {
	var err error
	if w.o.Produce != nil {
		err = w.o.Produce(b)
	} else {
		for _, it := range b.Items {
			switch {
			case it.Msg != nil:
				b.Text(it.Msg)
			case it.Event != nil:
				b.Text(it.Event.Frame())
			}
		}
	}
	if ping && err == nil {
		if w.o.PingMessage != nil {
			b.Text(w.o.PingMessage())
		} else {
			b.msgs = append(b.msgs, wsMsg{op: websocket.PingMessage})
		}
	}
	return err
}

// wsBufs are the buffers frames are encoded into, held only during a write.
var wsBufs = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

// write sends the batch's messages: their frames encoded into one buffer
// and written in one call (in 32 KiB writes of whole frames for a large
// batch, so that a control frame the library writes, such as a pong,
// never lands inside one of ours).
func (w *WSWriter) write(b *WSBatch) error {
	if len(b.msgs) == 0 {
		return nil
	}
	nc := w.ws.NetConn()
	bp := wsBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() {
		if cap(buf) <= 256<<10 {
			*bp = buf[:0]
			wsBufs.Put(bp)
		}
	}()
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		_ = nc.SetWriteDeadline(time.Now().Add(w.o.WriteWait))
		_, err := nc.Write(buf)
		buf = buf[:0]
		return err
	}
	data := 0 // the messages a page sees (not pings)
	for _, m := range b.msgs {
		if m.op == websocket.TextMessage || m.op == websocket.BinaryMessage {
			data++
		}
	}
	w.mu.Lock()
	w.written += int64(data)
	w.mu.Unlock()
	for _, m := range b.msgs {
		n := 0
		for _, p := range m.parts {
			n += len(p)
		}
		if len(buf) > 0 && len(buf)+n+14 > 32<<10 {
			if err := flush(); err != nil {
				return err
			}
		}
		buf = appendFrameHeader(buf, m.op, n)
		for _, p := range m.parts {
			buf = append(buf, p...)
		}
	}
	return flush()
}

// appendFrameHeader appends the header of an unmasked final frame (a
// server's) of op carrying n bytes (RFC 6455 5.2).
func appendFrameHeader(buf []byte, op byte, n int) []byte {
	buf = append(buf, 0x80|op)
	switch {
	case n < 126:
		return append(buf, byte(n))
	case n <= 0xffff:
		return append(buf, 126, byte(n>>8), byte(n))
	}
	return append(buf, 127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// end closes the socket with code (0: it failed; nothing more is sent),
// ends the reader and lets no other writer start.
func (w *WSWriter) end(code int, reason, slow string) {
	w.mu.Lock()
	w.finished, w.writing = true, false
	already := w.sent
	w.sent = true
	w.mu.Unlock()
	if !already {
		if code != 0 {
			WriteClose(w.ws, code, reason)
		}
		if w.o.Closed != nil {
			w.o.Closed(code, slow)
		}
	}
	w.stopTimer()
	w.doneOnce.Do(func() { close(w.done) })
	w.stopReader()
}

func (w *WSWriter) stopTimer() {
	w.mu.Lock()
	t := w.pingTimer
	w.mu.Unlock()
	if t != nil {
		t.Stop()
	}
}

// stopReader ends the reader once the writer has closed the socket: it
// gives the peer a moment to answer the close frame, then expires the read
// deadline until the reader notices. (Closing a hijacked fasthttp
// connection does not interrupt a blocked read; the connection closes when
// the handler returns.)
func (w *WSWriter) stopReader() {
	w.stopping.Store(true)
	if w.readers == nil {
		return
	}
	t := time.NewTimer(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-w.readers:
			return
		case <-t.C:
			_ = w.ws.NetConn().SetReadDeadline(time.Now())
			t.Reset(50 * time.Millisecond)
		}
	}
}

// Finish is called by the handler once its reader returned (readerDone is
// closed): no writer may start any more, a running one is waited for, and a
// close asked for but not sent yet (by the reader, or by shutdown) is sent
// now. After it the handler may return.
func (w *WSWriter) Finish() {
	w.mu.Lock()
	w.finished = true
	w.mu.Unlock()
	w.running.Wait()
	w.mu.Lock()
	cl, already := w.close, w.sent
	w.sent = true
	clear(w.items)
	w.items = nil
	w.mu.Unlock()
	if !already {
		code := 0
		if cl != nil {
			WriteClose(w.ws, cl.code, cl.reason)
			code = cl.code
		}
		if w.o.Closed != nil {
			w.o.Closed(code, "")
		}
	}
	w.stopTimer()
	w.doneOnce.Do(func() { close(w.done) })
}

// IsTimeout reports whether err is a network timeout (an expired deadline).
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
