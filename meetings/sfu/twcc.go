package sfu

import (
	"sync"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
)

// twccInterval is how often transport-cc feedback goes to a publisher while
// its packets arrive (Pion's interceptor and Chrome's own receiver use the
// same).
const twccInterval = 100 * time.Millisecond

// twccFeedback tells a publisher when each of its packets arrived
// (transport-wide congestion control feedback): the publisher's browser
// estimates its uplink from it and sizes its simulcast layers.
//
// It does what Pion's twcc.SenderInterceptor does, with Pion's recorder,
// but records in the goroutine that reads the packet. The interceptor hands
// every received packet over an unbuffered channel to a goroutine of its
// own: one goroutine wake-up per packet, the largest single cost of
// receiving after the system calls.
//
// Feedback is sent by the reader that records the first packet at least
// twccInterval after the last feedback; a timer sends what is left when
// packets stop, so none waits longer than 2×twccInterval.
type twccFeedback struct {
	write func([]rtcp.Packet) error

	mu      sync.Mutex
	rec     *twcc.Recorder
	start   int64 // unix ns that arrival times count from
	last    int64 // unix ns of the last feedback
	waiting bool  // packets recorded since the last feedback
	tail    *time.Timer
	closed  bool
}

// newTWCCFeedback makes feedback sent as sender ssrc through write.
func newTWCCFeedback(sender uint32, write func([]rtcp.Packet) error) *twccFeedback {
	f := &twccFeedback{write: write, rec: twcc.NewRecorder(sender), start: time.Now().UnixNano()}
	f.tail = time.AfterFunc(time.Hour, f.flushTail)
	f.tail.Stop()
	return f
}

// record notes that the packet with transport-wide sequence number seq
// (from stream ssrc) arrived at arrival (unix ns).
func (f *twccFeedback) record(ssrc uint32, seq uint16, arrival int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.rec.Record(ssrc, seq, (arrival-f.start)/1e3)
	if arrival-f.last >= int64(twccInterval) {
		f.sendLocked(arrival)
		return
	}
	if !f.waiting {
		f.waiting = true
		f.tail.Reset(2 * twccInterval)
	}
}

func (f *twccFeedback) flushTail() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed && f.waiting {
		f.sendLocked(time.Now().UnixNano())
	}
}

// sendLocked sends the feedback for everything recorded so far. It writes
// under the lock so that feedback leaves in the order it was built.
func (f *twccFeedback) sendLocked(now int64) {
	f.last, f.waiting = now, false
	pkts := f.rec.BuildFeedbackPacket()
	if len(pkts) == 0 {
		return
	}
	_ = f.write(pkts) // a closing connection refuses it; nothing to do then
}

// stop ends the feedback; nothing is written after it returns.
func (f *twccFeedback) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	f.tail.Stop()
}
