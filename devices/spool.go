package devices

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// spool is the embedded broker's durable log of acknowledged telemetry: a
// message's rows are appended to a segment file and fsynced (one fsync per
// group of messages: group commit) before its PUBACK goes out, so that a
// crash loses nothing the hub acknowledged. The rows also go to the
// writer's memory queue; once committed in PostgreSQL they are counted
// done, and a segment whose records are all done is deleted.
//
// When the memory queue is full (PostgreSQL down or slow) the spool keeps
// acknowledging: it "spills", writing new records to segments of their own
// that only the disk holds, and its refill goroutine reads them back into
// the queue as room frees. At start every segment left by the previous run
// is a spilled one: the refill replays it while new messages are accepted
// (rows have no order in the table and a replayed row already committed is
// a no-op under the telemetry key, so interleaving is safe). Only when the
// spool's files reach maxBytes does it stop acknowledging: publishers are
// held (backpressure), counted in communehub_spool_full_total.
//
// Locking: mu guards the segment list and counters; the writer's lock may
// be taken under it (tryEnqueue), never the other way round. The flusher
// owns the files; the acker sends acknowledgements in fsync order.
// spoolSegmentBytes is the size at which the active segment is rotated, so
// that committed records are deleted a segment at a time.
const spoolSegmentBytes = 8 << 20

// spoolPendMax bounds the records waiting in memory for the flusher: when
// the disk stalls or fails (full, I/O errors) publishers are held instead
// of the hub's memory growing to the spool's bound.
const spoolPendMax = 32 << 20

// spoolRotateDone is the size from which a fully committed active segment
// is rotated (and so deleted) at once.
const spoolRotateDone = 64 << 10

type spool struct {
	dir  string
	lock *os.File // flock'ed while open
	max  int64
	log  *slog.Logger
	m    *metrics
	w    *writer

	flushWake  chan struct{} // records pending; capacity 1
	refillWake chan struct{} // a spilled segment became readable; capacity 1
	room       chan struct{} // bytes freed; capacity 1
	acks       chan []spoolPending
	ctx        context.Context // ends at close: refill and full waits give up
	cancel     context.CancelFunc
	wg         sync.WaitGroup

	mu        sync.Mutex
	active    *segment
	segs      []*segment // every live segment, active last
	spilling  bool       // new records go to disk only
	pend      []spoolPending
	bytes     int64 // sum of live segments' bytes, pending included
	pendBytes int64 // bytes waiting for the flusher (held in memory)
	pendMax   int64 // spoolPendMax; tests lower it
	nextID    uint64
	closing   bool
}

// segment is one spool file, spool-NNNNNNNNNNNNNNNN.seg by id.
type segment struct {
	id        uint64
	spilled   bool  // on disk only: the refill reads its records back
	closed    bool  // rotated: no records will be added
	sealed    bool  // closed and every record written and fsynced; file closed
	read      bool  // spilled: the refill has queued all of it
	count     int   // records in it (a previous run's: read so far)
	written   int   // records written and fsynced
	done      int   // records committed to PostgreSQL
	bytes     int64 // record bytes
	keep      bool  // unreadable: dropped from the list, its file left alone
	f         *os.File
	size      int64 // bytes in the file, fsynced (flusher)
	wrote     int64 // bytes written this round (flusher)
	dirSynced bool  // the directory entry of its file is fsynced (flusher)
}

type spoolPending struct {
	seg  *segment
	data []byte
	ack  func()
}

func (s *spool) path(id uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("spool-%016x.seg", id))
}

// openSpool opens (creating) the spool in dir, takes the previous run's
// segments for replay, and starts its goroutines; close stops them.
func openSpool(dir string, maxBytes int64, w *writer, m *metrics, log *slog.Logger) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// One hub per spool: another one's replay would take (and delete)
	// segments this one is still writing.
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("in use by another hub process (give each its own COMMUNEHUB_DATA_DIR): %w", err)
	}
	s := &spool{lock: lock, dir: dir, max: maxBytes, pendMax: spoolPendMax, log: log, m: m, w: w,
		flushWake: make(chan struct{}, 1), refillWake: make(chan struct{}, 1), room: make(chan struct{}, 1),
		acks: make(chan []spoolPending, 64)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	ents, err := os.ReadDir(dir)
	if err != nil {
		lock.Close()
		return nil, err
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, "spool-") || !strings.HasSuffix(name, ".seg") {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, "spool-"), ".seg"), 16, 64)
		if err != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			lock.Close()
			return nil, err
		}
		s.segs = append(s.segs, &segment{id: id, spilled: true, closed: true, sealed: true, bytes: fi.Size()})
		s.bytes += fi.Size()
		s.nextID = max(s.nextID, id+1)
	}
	sort.Slice(s.segs, func(i, j int) bool { return s.segs[i].id < s.segs[j].id })
	if len(s.segs) > 0 {
		log.Info("mqtt spool: replaying what the previous run acknowledged", "dir", dir, "segments", len(s.segs), "bytes", s.bytes)
	}
	s.spilling = len(s.segs) > 0
	s.active = &segment{id: s.nextID, spilled: s.spilling}
	s.nextID++
	s.segs = append(s.segs, s.active)
	s.m.spoolBytes.Set(float64(s.bytes))
	s.wg.Add(3)
	go func() { defer s.wg.Done(); s.flushLoop() }()
	go func() {
		defer s.wg.Done()
		for batch := range s.acks {
			for _, p := range batch {
				if p.ack != nil {
					p.ack()
				}
			}
		}
	}()
	go func() { defer s.wg.Done(); s.refillLoop() }()
	signal(s.refillWake)
	return s, nil
}

// add makes samples durable and calls ack once they are fsynced. It waits
// while the spool is full; false when ctx (or the spool) ended first: then
// nothing was taken and ack is never called.
func (s *spool) add(ctx context.Context, samples []sample, ack func()) bool {
	frame := appendSpoolRecord(nil, samples)
	n := int64(len(frame))
	counted := false
	s.mu.Lock()
	for (s.bytes > 0 && s.bytes+n > s.max) || s.pendBytes > s.pendMax {
		s.mu.Unlock()
		if !counted {
			s.m.spoolFull.Inc()
			counted = true
		}
		select {
		case <-s.room:
		case <-ctx.Done():
			return false
		case <-s.ctx.Done():
			return false
		}
		s.mu.Lock()
	}
	if s.closing {
		s.mu.Unlock()
		return false
	}
	if !s.spilling {
		s.active.count++ // before the writer can count it done
		if !s.w.tryEnqueue(item{samples: samples, seg: s.active}) {
			s.active.count--
			s.spilling = true
			s.rotateLocked(true)
			signal(s.refillWake)
			s.active.count++
		}
	} else {
		s.active.count++
	}
	seg := s.active
	seg.bytes += n
	s.bytes += n
	s.pendBytes += n
	s.pend = append(s.pend, spoolPending{seg: seg, data: frame, ack: ack})
	if seg.bytes >= spoolSegmentBytes {
		s.rotateLocked(s.spilling)
	}
	s.m.spoolBytes.Set(float64(s.bytes))
	room := s.bytes < s.max && s.pendBytes <= s.pendMax
	s.mu.Unlock()
	signal(s.flushWake)
	if room && counted {
		signal(s.room) // pass the wake-up on to the next held publisher
	}
	return true
}

// rotateLocked closes the active segment and opens a new one.
func (s *spool) rotateLocked(spilled bool) {
	old := s.active
	old.closed = true
	switch {
	case old.count == 0: // never written: no file
		old.sealed, old.read = true, true
	case old.written == old.count: // nothing of it in flight: the flusher is done with it
		if old.f != nil {
			_ = old.f.Close()
			old.f = nil
		}
		old.sealed = true
		if old.spilled {
			signal(s.refillWake)
		}
	}
	s.active = &segment{id: s.nextID, spilled: spilled}
	s.nextID++
	s.segs = append(s.segs, s.active)
	s.removableLocked(old)
}

// removableLocked drops seg from the list if nothing needs it any more and
// then deletes its file (outside the lock would be nicer; a remove is cheap).
func (s *spool) removableLocked(seg *segment) {
	if !seg.closed || !seg.sealed || seg.done < seg.count || seg.written < seg.count || (seg.spilled && !seg.read) {
		return
	}
	for i, x := range s.segs {
		if x == seg {
			s.segs = append(s.segs[:i], s.segs[i+1:]...)
			s.bytes -= seg.bytes
			s.m.spoolBytes.Set(float64(s.bytes))
			if seg.bytes > 0 && !seg.keep {
				if err := os.Remove(s.path(seg.id)); err != nil && !errors.Is(err, os.ErrNotExist) {
					s.log.Warn("mqtt spool: remove segment", "err", err)
				}
			}
			signal(s.room)
			return
		}
	}
}

// stored counts rows the writer committed: their records are done.
func (s *spool) stored(batch []item) {
	counts := map[*segment]int{}
	for _, it := range batch {
		if it.seg != nil {
			counts[it.seg]++
		}
	}
	if len(counts) == 0 {
		return
	}
	s.mu.Lock()
	for seg, n := range counts {
		seg.done += n
		s.removableLocked(seg)
	}
	// Everything in the active segment is committed: rotate it, so that
	// its file goes and a restart has nothing to replay (not for every
	// small batch, which would make a file per commit).
	if a := s.active; a.count > 0 && a.done == a.count && a.written == a.count &&
		(a.bytes >= spoolRotateDone || s.bytes > s.max/2) {
		s.rotateLocked(s.spilling)
	}
	s.mu.Unlock()
}

// flushLoop writes pending records, fsyncs, then hands their
// acknowledgements to the acker. A failed write is cut off and retried:
// the records stay unacknowledged, and the publishers wait.
func (s *spool) flushLoop() {
	defer close(s.acks)
	for {
		s.mu.Lock()
		batch := s.pend
		s.pend = nil
		closing := s.closing
		s.mu.Unlock()
		if len(batch) == 0 {
			if closing {
				return
			}
			<-s.flushWake
			continue
		}
		backoff := 50 * time.Millisecond
		for {
			start := time.Now()
			err := s.write(batch)
			if err == nil {
				s.m.spoolFlush.Observe(time.Since(start).Seconds())
				break
			}
			s.log.Error("mqtt spool: write failed; holding the publishers and retrying", "dir", s.dir, "err", err, "in", backoff)
			time.Sleep(backoff)
			backoff = min(2*backoff, 5*time.Second)
		}
		s.mu.Lock()
		for _, p := range batch {
			p.seg.written++
			s.pendBytes -= int64(len(p.data))
		}
		signal(s.room)
		for _, p := range batch {
			seg := p.seg
			if seg.closed && !seg.sealed && seg.written == seg.count {
				if seg.f != nil {
					_ = seg.f.Close()
					seg.f = nil
				}
				seg.sealed = true
				if seg.spilled {
					signal(s.refillWake)
				}
				s.removableLocked(seg)
			}
		}
		s.mu.Unlock()
		s.acks <- batch
	}
}

// write appends batch to its segments' files and fsyncs them (and the
// directory until it holds a new file's entry durably). On error each file
// is cut back to where it was, so that a retry leaves no half record.
func (s *spool) write(batch []spoolPending) error {
	var files []*segment
	var buf []byte
	flush := func(seg *segment) error {
		if len(buf) == 0 {
			return nil
		}
		if seg.f == nil {
			f, err := os.OpenFile(s.path(seg.id), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				return err
			}
			seg.f = f
		}
		n, err := seg.f.Write(buf)
		seg.wrote += int64(n)
		buf = buf[:0]
		return err
	}
	var err error
	var cur *segment
	for _, p := range batch {
		if p.seg != cur {
			if err = flush(cur); err != nil {
				break
			}
			cur = p.seg
			files = append(files, cur)
		}
		buf = append(buf, p.data...)
	}
	if err == nil {
		err = flush(cur)
	}
	for _, seg := range files {
		if err == nil && seg.f != nil && !seg.dirSynced {
			if err = syncDir(s.dir); err == nil {
				seg.dirSynced = true
			}
		}
	}
	for _, seg := range files {
		if err == nil && seg.f != nil {
			err = seg.f.Sync()
		}
	}
	for _, seg := range files {
		if err != nil && seg.f != nil {
			_ = seg.f.Truncate(seg.size)
			seg.wrote = 0
		}
		seg.size += seg.wrote
		seg.wrote = 0
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// nextToRead is the next sealed spilled segment to read back, or nil. When
// none is left it rotates the spilled active segment (so its records
// become readable) or, if that is empty, ends spilling.
func (s *spool) nextToRead() *segment {
	s.mu.Lock()
	defer s.mu.Unlock()
	waiting := false
	for _, seg := range s.segs {
		if seg.spilled && !seg.read && seg != s.active {
			if seg.sealed {
				return seg
			}
			waiting = true // its records are being written
		}
	}
	if waiting || !s.spilling {
		return nil
	}
	// Only the active segment is left to read: stop spilling once the
	// queue has room again, else rotate it so that it can be read.
	s.spilling = s.active.count > 0 && s.w.queuedRows() >= s.w.capRows/2
	s.rotateLocked(s.spilling)
	return nil // the flusher seals the old active segment and wakes the refill
}

// refillLoop reads spilled segments back into the writer's queue, waiting
// for room; a torn or corrupt record ends that segment's reading and is
// counted (records after it in the file cannot be framed).
func (s *spool) refillLoop() {
	for {
		seg := s.nextToRead()
		if seg == nil {
			select {
			case <-s.refillWake:
			case <-s.ctx.Done():
				return
			}
			continue
		}
		if !s.readBack(seg) {
			return
		}
	}
}

// readBack queues seg's records; false when the spool is closing.
func (s *spool) readBack(seg *segment) bool {
	f, err := os.Open(s.path(seg.id))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		// Leave the file for the operator; do not wait for it.
		s.log.Error("mqtt spool: cannot read a segment; leaving it in place", "err", err)
		s.mu.Lock()
		seg.keep = true
		s.mu.Unlock()
	}
	fromBefore := seg.count == 0 // a previous run's segment: count as read
	n := 0
	if f != nil {
		r := bufio.NewReaderSize(f, 64<<10)
		var body []byte
		for {
			body, err = readSpoolFrame(r, body)
			var samples []sample
			if err == nil {
				samples, err = decodeSpoolRecord(body)
			}
			if err != nil {
				if err != io.EOF {
					s.m.spoolCorrupt.Inc()
					s.log.Warn("mqtt spool: skipping a torn or corrupt record and the rest of its segment",
						"segment", s.path(seg.id), "records_read", n, "err", err)
				}
				break
			}
			if fromBefore {
				s.mu.Lock()
				seg.count++
				seg.written++
				s.mu.Unlock()
			}
			n++
			if !s.w.enqueueWait(s.ctx, item{samples: samples, seg: seg}) {
				_ = f.Close()
				return false
			}
			s.m.spoolReplayed.Inc()
		}
		_ = f.Close()
	}
	s.mu.Lock()
	seg.count, seg.written = n, n // what could not be read is not waited for
	seg.read = true
	s.removableLocked(seg)
	s.mu.Unlock()
	return true
}

// close stops taking records, writes and fsyncs what is pending (its
// acknowledgements still go out), and stops the goroutines. Records not
// yet committed stay in the files for the next start.
func (s *spool) close() {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.closing = true
	s.mu.Unlock()
	s.cancel()
	signal(s.flushWake)
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.active; a.count > 0 && a.done == a.count && a.written == a.count {
		s.rotateLocked(false) // all committed: nothing to replay
	}
	for _, seg := range s.segs {
		if seg.f != nil {
			_ = seg.f.Close()
			seg.f = nil
		}
	}
	_ = s.lock.Close()
}
