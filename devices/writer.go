package devices

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Writer limits: a batch is written when the writer is free and rows are
// waiting (group commit), at most maxBatchRows at a time and never later
// than maxBatchWait after the first row arrived.
const (
	maxBatchRows = 5000
	maxBatchWait = 100 * time.Millisecond
)

// item is the telemetry of one MQTT message and how to acknowledge it.
type item struct {
	samples []sample
	ack     func()   // nil: acknowledged already, or never (QoS 0)
	seg     *segment // the spool segment holding it (embedded broker), or nil
}

// writer is the one goroutine that stores telemetry. Its queue is bounded
// in rows: producers either wait for room (the embedded broker's hook:
// the publisher gets no PUBACK meanwhile) or are told it is full (paho:
// the message stays unacknowledged and the broker redelivers it).
type writer struct {
	pool    *pgxpool.Pool
	log     *slog.Logger
	m       *metrics
	st      *state
	capRows int
	sp      *spool // set before run when the embedded broker spools

	notify chan struct{} // rows arrived; capacity 1
	space  chan struct{} // room freed; capacity 1
	acks   chan []item   // stored batches whose messages the acker acknowledges, in order

	mu      sync.Mutex
	queue   []item
	rows    int
	lastErr error
	months  map[string]bool // partitions known to exist, "2026-11"
}

func newWriter(pool *pgxpool.Pool, log *slog.Logger, m *metrics, st *state, capRows int) *writer {
	if capRows < maxBatchRows {
		capRows = maxBatchRows
	}
	return &writer{pool: pool, log: log, m: m, st: st, capRows: capRows,
		notify: make(chan struct{}, 1), space: make(chan struct{}, 1), acks: make(chan []item, 16), months: map[string]bool{}}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// tryEnqueue queues it unless that would pass the bound.
func (w *writer) tryEnqueue(it item) bool {
	n := len(it.samples)
	w.mu.Lock()
	if w.rows > 0 && w.rows+n > w.capRows {
		w.mu.Unlock()
		return false
	}
	w.queue = append(w.queue, it)
	w.rows += n
	rows := w.rows
	w.mu.Unlock()
	w.m.queued.Set(float64(rows))
	signal(w.notify)
	if rows < w.capRows {
		signal(w.space) // pass the wake-up on to the next waiting producer
	}
	return true
}

// enqueueOver queues it even past the bound (see ingest.handleQueued).
func (w *writer) enqueueOver(it item) {
	w.mu.Lock()
	w.queue = append(w.queue, it)
	w.rows += len(it.samples)
	rows := w.rows
	w.mu.Unlock()
	w.m.queued.Set(float64(rows))
	signal(w.notify)
}

// enqueue waits for room; false only when ctx ends first.
func (w *writer) enqueue(ctx context.Context, it item) bool {
	counted := false
	for {
		if w.tryEnqueue(it) {
			return true
		}
		if !counted {
			w.m.backpress.Inc()
			counted = true
		}
		select {
		case <-w.space:
		case <-ctx.Done():
			return false
		}
	}
}

// enqueueWait is enqueue for the spool's refill: it waits for room
// without counting a held publisher.
func (w *writer) enqueueWait(ctx context.Context, it item) bool {
	for !w.tryEnqueue(it) {
		select {
		case <-w.space:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// queuedRows returns the rows waiting.
func (w *writer) queuedRows() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rows
}

// health is nil when the last write succeeded.
func (w *writer) health() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lastErr != nil {
		return fmt.Errorf("telemetry writer failing (%d rows queued): %w", w.rows, w.lastErr)
	}
	return nil
}

func (w *writer) take() []item {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, rows := 0, 0
	for n < len(w.queue) && (rows == 0 || rows+len(w.queue[n].samples) <= maxBatchRows) {
		rows += len(w.queue[n].samples)
		n++
	}
	batch := make([]item, n)
	copy(batch, w.queue[:n])
	clear(w.queue[:n])
	w.queue = w.queue[n:]
	w.rows -= rows
	w.m.queued.Set(float64(w.rows))
	return batch
}

// run writes batches until ctx ends, then drains what is queued (retrying
// for a few seconds) and counts what it could not write as lost.
func (w *writer) run(ctx context.Context) {
	tick := time.NewTicker(maxBatchWait)
	defer tick.Stop()
	ackerDone := make(chan struct{})
	go func() { // sends PUBACKs while the writer copies the next batch
		defer close(ackerDone)
		for batch := range w.acks {
			ackAll(batch)
			if w.sp != nil {
				w.sp.stored(batch)
			}
		}
	}()
	defer func() { close(w.acks); <-ackerDone }()
	for {
		select {
		case <-ctx.Done():
			w.drain()
			return
		case <-w.notify:
		case <-tick.C:
		}
		for {
			batch := w.take()
			if len(batch) == 0 {
				break
			}
			signal(w.space)
			w.writeRetrying(ctx, batch)
			if ctx.Err() != nil {
				break
			}
		}
	}
}

func (w *writer) writeRetrying(ctx context.Context, batch []item) {
	backoff := 100 * time.Millisecond
	for {
		err := w.write(ctx, batch)
		w.mu.Lock()
		w.lastErr = err
		w.mu.Unlock()
		if err == nil {
			w.acks <- batch
			return
		}
		if ctx.Err() != nil {
			w.requeueFront(batch)
			return
		}
		w.log.Warn("telemetry write failed; holding the batch and retrying", "err", err, "rows", rowsOf(batch), "in", backoff)
		select {
		case <-ctx.Done():
			w.requeueFront(batch)
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (w *writer) requeueFront(batch []item) {
	w.mu.Lock()
	w.queue = append(batch, w.queue...)
	w.rows += rowsOf(batch)
	w.mu.Unlock()
}

func ackAll(batch []item) {
	for _, it := range batch {
		if it.ack != nil {
			it.ack()
		}
	}
}

func rowsOf(batch []item) int {
	n := 0
	for _, it := range batch {
		n += len(it.samples)
	}
	return n
}

// drain writes what is left at shutdown, for at most 5 seconds.
func (w *writer) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		batch := w.take()
		if len(batch) == 0 {
			return
		}
		for ctx.Err() == nil {
			if err := w.write(ctx, batch); err == nil {
				w.acks <- batch
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if ctx.Err() != nil {
			// Unacknowledged paho messages will be redelivered by the broker,
			// spooled ones replayed at the next start; the rest are lost.
			var lost int64
			for _, it := range append(batch, w.take()...) {
				if it.ack == nil && it.seg == nil {
					lost += int64(len(it.samples))
				}
			}
			if lost > 0 {
				w.m.lost.WithLabelValues("shutdown").Add(float64(lost))
				w.log.Error("telemetry lost at shutdown: database unavailable", "rows", lost)
			}
			return
		}
	}
}

var telemetryColumns = []string{"unit", "device", "ts", "source", "metrics"}

// write stores one batch: COPY on the fast path; when a row is already
// there (a QoS 1 redelivery) the batch goes through a staging table and
// INSERT … ON CONFLICT DO NOTHING.
func (w *writer) write(ctx context.Context, batch []item) error {
	start := time.Now()
	rows := make([][]any, 0, rowsOf(batch))
	var buf []byte
	for _, it := range batch {
		for i := range it.samples {
			s := &it.samples[i]
			start := len(buf)
			buf = appendMetricsJSON(buf, s.metrics)
			rows = append(rows, []any{s.unit, s.device, s.ts, s.source, json.RawMessage(buf[start:len(buf):len(buf)])})
		}
	}
	if len(rows) == 0 {
		return nil
	}
	if err := w.ensurePartitions(ctx, rows); err != nil {
		return err
	}
	n, err := w.pool.CopyFrom(ctx, pgx.Identifier{"telemetry"}, telemetryColumns, pgx.CopyFromRows(rows))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		n, err = w.writeDedup(ctx, rows)
	}
	if err != nil {
		return err
	}
	w.m.rows.Add(float64(n))
	w.m.flushes.Observe(time.Since(start).Seconds())
	return nil
}

func (w *writer) writeDedup(ctx context.Context, rows [][]any) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS telemetry_stage
			(unit text, device text, ts timestamptz, source text, metrics jsonb) ON COMMIT DELETE ROWS`); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"telemetry_stage"}, telemetryColumns, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO telemetry(unit, device, ts, source, metrics)
			SELECT unit, device, ts, source, metrics FROM telemetry_stage ON CONFLICT DO NOTHING`)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// ensurePartitions creates the monthly partitions the rows fall in.
func (w *writer) ensurePartitions(ctx context.Context, rows [][]any) error {
	for _, r := range rows {
		ts := r[2].(time.Time).UTC()
		key := ts.Format("2006-01")
		if w.months[key] {
			continue
		}
		if err := ensurePartition(ctx, w.pool, ts); err != nil {
			return err
		}
		w.months[key] = true
	}
	return nil
}

// partitionName is telemetry_YYYY_MM.
func partitionName(month time.Time) string { return "telemetry_" + month.Format("2006_01") }

// ensurePartition creates the partition of ts's month if missing.
func ensurePartition(ctx context.Context, pool *pgxpool.Pool, ts time.Time) error {
	from := time.Date(ts.Year(), ts.Month(), 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 1, 0)
	_, err := pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF telemetry FOR VALUES FROM ('%s') TO ('%s')`,
		pgx.Identifier{partitionName(from)}.Sanitize(), from.Format(time.RFC3339), to.Format(time.RFC3339)))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P07" || pgErr.Code == "23505") {
		return nil // created concurrently by another hub instance
	}
	return err
}
