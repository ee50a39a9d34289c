package devices

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/communehub/communehub/hub/hubtest"
)

func spoolSample(i int) []sample {
	return []sample{{unit: "03244", device: "dev-1", source: "native", ts: time.Unix(0, int64(i)*int64(time.Millisecond)).UTC(),
		metrics: map[string]float64{"latency_ms": float64(i) / 10, "loss_pct": 0}}}
}

// newTestSpool opens a spool in dir in front of a writer that is not
// running (its queue is read with take), holding capRows rows.
func newTestSpool(t *testing.T, dir string, maxBytes int64, capRows int) (*spool, *writer, *metrics) {
	t.Helper()
	m := newMetrics(nil)
	w := newWriter(nil, slog.New(slog.DiscardHandler), m, nil, capRows)
	sp, err := openSpool(dir, maxBytes, w, m, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	w.sp = sp
	t.Cleanup(sp.close)
	return sp, w, m
}

func counterValue(c interface{ Write(*dto.Metric) error }) float64 {
	var d dto.Metric
	_ = c.Write(&d)
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "spool-*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// takeAll empties the writer's queue.
func takeAll(w *writer) []item {
	var all []item
	for {
		b := w.take()
		if len(b) == 0 {
			return all
		}
		all = append(all, b...)
	}
}

func TestSpoolAcksAfterFsyncAndDeletesWhatIsCommitted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sp, w, m := newTestSpool(t, dir, 1<<30, maxBatchRows)
	var acked atomic.Int64
	for i := range 1000 {
		if !sp.add(context.Background(), spoolSample(i), func() { acked.Add(1) }) {
			t.Fatal("add refused")
		}
	}
	hubtest.WaitFor(t, 5*time.Second, func() bool { return acked.Load() == 1000 }, "1,000 acks")
	// Acknowledged means on disk: a fresh reader of the file finds them all.
	files := segFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("segment files %v", files)
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(f)
	n := 0
	for {
		body, err := readSpoolFrame(r, nil)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("record %d: %v", n, err)
		}
		got, err := decodeSpoolRecord(body)
		if err != nil || !reflect.DeepEqual(got, spoolSample(n)) {
			t.Fatalf("record %d: %v %v", n, got, err)
		}
		n++
	}
	f.Close()
	if n != 1000 {
		t.Fatalf("%d records in the file, want 1000", n)
	}
	items := takeAll(w)
	if len(items) != 1000 {
		t.Fatalf("%d items queued for the writer, want 1000", len(items))
	}
	sp.stored(items) // the writer committed them all
	if files := segFiles(t, dir); len(files) != 0 {
		t.Fatalf("committed segment not deleted: %v", files)
	}
	if b := counterValue(m.spoolBytes); b != 0 {
		t.Fatalf("spool bytes %v after everything was committed", b)
	}
}

func TestSpoolReplaysWhatWasNotCommitted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sp, w, _ := newTestSpool(t, dir, 1<<30, maxBatchRows)
	var acked atomic.Int64
	for i := range 300 {
		sp.add(context.Background(), spoolSample(i), func() { acked.Add(1) })
	}
	hubtest.WaitFor(t, 5*time.Second, func() bool { return acked.Load() == 300 }, "300 acks")
	sp.stored(takeAll(w)[:100]) // 100 committed, then the hub stops
	sp.close()

	sp2, w2, m2 := newTestSpool(t, dir, 1<<30, maxBatchRows)
	hubtest.WaitFor(t, 5*time.Second, func() bool { return w2.queuedRows() == 300 }, "300 rows replayed")
	// New messages are taken meanwhile, and stored once.
	sp2.add(context.Background(), spoolSample(300), nil)
	hubtest.WaitFor(t, 5*time.Second, func() bool { return w2.queuedRows() == 301 }, "the new message queued too")
	items := takeAll(w2)
	seen := map[int64]int{}
	for _, it := range items {
		seen[it.samples[0].ts.UnixMilli()]++
	}
	for i := range 301 {
		if seen[int64(i)] != 1 {
			t.Fatalf("message %d queued %d times after the restart", i, seen[int64(i)])
		}
	}
	if got := counterValue(m2.spoolReplayed); got < 300 {
		t.Fatalf("replayed %v, want ≥ 300", got)
	}
	sp2.stored(items)
	hubtest.WaitFor(t, 5*time.Second, func() bool { return len(segFiles(t, dir)) <= 1 }, "replayed segments deleted")
}

func TestSpoolSkipsTornTailAndCorruptRecords(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		damage func(data []byte) []byte
		want   int // records replayed
	}{
		{"torn tail", func(b []byte) []byte { return append(b, appendSpoolRecord(nil, spoolSample(99))[:20]...) }, 10},
		{"half a header", func(b []byte) []byte { return append(b, 7, 0, 0) }, 10},
		{"flipped byte in record 6", func(b []byte) []byte {
			var first5 []byte
			for i := range 5 {
				first5 = appendSpoolRecord(first5, spoolSample(i))
			}
			b[len(first5)+spoolFrameHead+3] ^= 0x40
			return b
		}, 5},
		{"absurd length", func(b []byte) []byte { return append(b, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0) }, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var data []byte
			for i := range 10 {
				data = appendSpoolRecord(data, spoolSample(i))
			}
			if err := os.WriteFile(filepath.Join(dir, "spool-0000000000000001.seg"), tc.damage(data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, w, m := newTestSpool(t, dir, 1<<30, maxBatchRows)
			hubtest.WaitFor(t, 5*time.Second, func() bool { return counterValue(m.spoolCorrupt) == 1 }, "the damage counted")
			if got := w.queuedRows(); got != tc.want {
				t.Fatalf("replayed %d records, want %d", got, tc.want)
			}
		})
	}
}

func TestSpoolFullHoldsPublishersUntilCommitFreesRoom(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var twenty []byte
	for i := range 20 {
		twenty = appendSpoolRecord(twenty, spoolSample(i))
	}
	sp, w, m := newTestSpool(t, dir, int64(len(twenty)), maxBatchRows)
	var acked atomic.Int64
	for i := range 20 {
		sp.add(context.Background(), spoolSample(i), func() { acked.Add(1) })
	}
	hubtest.WaitFor(t, 5*time.Second, func() bool { return acked.Load() == 20 }, "20 acks")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond) // deadline: how long a held publisher waits, not a bound on the test
	defer cancel()
	if sp.add(ctx, spoolSample(20), func() { acked.Add(1) }) {
		t.Fatal("a full spool took a record")
	}
	if counterValue(m.spoolFull) != 1 {
		t.Fatal("full spool not counted")
	}
	took := make(chan bool, 2)
	for i := 21; i < 23; i++ { // two held publishers
		go func() { took <- sp.add(context.Background(), spoolSample(i), func() { acked.Add(1) }) }()
	}
	select {
	case <-took:
		t.Fatal("a full spool took a record")
	case <-time.After(20 * time.Millisecond): // deadline: a quiet window: they must still be waiting
	}
	sp.stored(takeAll(w)) // the database took them: room again
	for range 2 {
		select {
		case ok := <-took:
			if !ok {
				t.Fatal("add failed after room was freed")
			}
		case <-time.After(hubtest.Timeout(5 * time.Second)):
			t.Fatal("publisher still held after the commit freed the spool")
		}
	}
	hubtest.WaitFor(t, 5*time.Second, func() bool { return acked.Load() == 22 }, "the held messages acked")
}

func TestSpoolRefusesASecondHub(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sp, _, _ := newTestSpool(t, dir, 1<<30, maxBatchRows)
	m := newMetrics(nil)
	w := newWriter(nil, slog.New(slog.DiscardHandler), m, nil, maxBatchRows)
	if _, err := openSpool(dir, 1<<30, w, m, testLogger(t)); err == nil || !strings.Contains(err.Error(), "COMMUNEHUB_DATA_DIR") {
		t.Fatalf("second open of one spool: %v", err)
	}
	sp.close()
	again, err := openSpool(dir, 1<<30, w, m, testLogger(t))
	if err != nil {
		t.Fatalf("open after the first closed: %v", err)
	}
	again.close()
}

// A disk that fails (here: the segment's path is taken by a directory)
// gets no acknowledgement out, and once the records waiting for it reach
// their bound, publishers are held instead of memory growing.
func TestSpoolFailingDiskHoldsPublishers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sp, _, m := newTestSpool(t, dir, 1<<30, maxBatchRows)
	sp.mu.Lock()
	sp.pendMax = 2000
	blocked := sp.path(sp.active.id)
	sp.mu.Unlock()
	if err := os.Mkdir(blocked, 0o700); err != nil {
		t.Fatal(err)
	}
	var acked atomic.Int64
	held := 0
	for i := range 60 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond) // deadline: how long a held publisher waits
		if !sp.add(ctx, spoolSample(i), func() { acked.Add(1) }) {
			held++
		}
		cancel()
	}
	if acked.Load() != 0 {
		t.Fatalf("%d acknowledged while the disk fails", acked.Load())
	}
	if held == 0 || counterValue(m.spoolFull) == 0 {
		t.Fatalf("no publisher held (%d) while the disk fails", held)
	}
	// The disk recovers: what was taken is written and acknowledged.
	if err := os.Remove(blocked); err != nil {
		t.Fatal(err)
	}
	taken := int64(60 - held)
	hubtest.WaitFor(t, 10*time.Second, func() bool { return acked.Load() == taken }, "the taken records acked once the disk works")
}

// When the writer's queue is full the spool keeps acknowledging: the
// records go to disk only, and are read back once the queue has room.
func TestSpoolSpillsToDiskWhileTheQueueIsFull(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sp, w, m := newTestSpool(t, dir, 1<<30, maxBatchRows)
	var acked atomic.Int64
	const total = maxBatchRows + 700
	for i := range total {
		if !sp.add(context.Background(), spoolSample(i), func() { acked.Add(1) }) {
			t.Fatal("add refused")
		}
	}
	hubtest.WaitFor(t, 5*time.Second, func() bool { return acked.Load() == total }, "every message acked")
	if got := w.queuedRows(); got != maxBatchRows {
		t.Fatalf("queue holds %d rows, want it full (%d)", got, maxBatchRows)
	}
	seen := map[int64]int{}
	var all []item
	hubtest.WaitFor(t, 10*time.Second, func() bool {
		b := w.take() // the writer commits a batch
		for _, it := range b {
			seen[it.samples[0].ts.UnixMilli()]++
		}
		all = append(all, b...)
		signal(w.space)
		sp.stored(b)
		return len(seen) == total
	}, "the spilled records read back")
	for ts, n := range seen {
		if n != 1 {
			t.Fatalf("message %d queued %d times", ts, n)
		}
	}
	if got := counterValue(m.spoolReplayed); got != 700 {
		t.Fatalf("read back %v records, want 700", got)
	}
	if len(all) != total {
		t.Fatalf("%d items, want %d", len(all), total)
	}
}

// FuzzSpoolRecord feeds the spool reader what a damaged disk could hold:
// as a stream of frames and as a record body. Nothing panics or allocates
// without bound, and what decodes encodes back to as many samples.
func FuzzSpoolRecord(f *testing.F) {
	one := appendSpoolRecord(nil, spoolSample(1))
	two := appendSpoolRecord(nil, []sample{{unit: "03244", device: "10.0.0.1", source: "ping", ts: time.Unix(1795773600, 5).UTC(),
		metrics: map[string]float64{"ping.average_response_ms": 3.5, "latency_ms": 3.5}}, {unit: "03244", device: "x", ts: time.Unix(0, 0).UTC()}})
	f.Add(one)
	f.Add(append(one, two...))
	f.Add(one[spoolFrameHead:])
	f.Add(two[spoolFrameHead:])
	f.Add(one[:len(one)-1])
	f.Add([]byte{})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for {
			body, err := readSpoolFrame(r, nil)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, errSpoolTorn) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			_, _ = decodeSpoolRecord(body)
		}
		samples, err := decodeSpoolRecord(data)
		if err != nil {
			if !errors.Is(err, errSpoolBody) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		again := appendSpoolRecord(nil, samples)
		b2, err := readSpoolFrame(bufio.NewReader(bytes.NewReader(again)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if s2, err := decodeSpoolRecord(b2); err != nil || len(s2) != len(samples) {
			t.Fatalf("round trip: %d samples, then %d: %v", len(samples), len(s2), err)
		}
	})
}
