package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// OutboxChannel is the NOTIFY channel; the payload is only the outbox id.
const OutboxChannel = "communehub_outbox"

// WriteEvent records an event in the outbox inside tx, so it commits or rolls
// back with the change that caused it. It takes the topic's next sequence
// number (serialising writers of one topic until commit) and notifies every
// hub instance. The event reaches the bus through the OutboxFollower.
func WriteEvent(ctx context.Context, tx pgx.Tx, topic string, data any) error {
	if !ValidTopic(topic) {
		return fmt.Errorf("outbox: invalid topic %q", topic)
	}
	raw, err := marshalData(data)
	if err != nil {
		return fmt.Errorf("outbox: encode %s: %w", topic, err)
	}
	var id int64
	err = tx.QueryRow(ctx, `
		WITH s AS (
			INSERT INTO outbox_topic_seq(topic, seq) VALUES ($1, 1)
			ON CONFLICT (topic) DO UPDATE SET seq = outbox_topic_seq.seq + 1
			RETURNING seq)
		INSERT INTO outbox(topic, topic_seq, data) SELECT $1, s.seq, $2 FROM s
		RETURNING id`, topic, raw).Scan(&id)
	if err != nil {
		return fmt.Errorf("outbox: write %s: %w", topic, err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, OutboxChannel, strconv.FormatInt(id, 10)); err != nil {
		return fmt.Errorf("outbox: notify: %w", err)
	}
	return nil
}

// OutboxFollower publishes committed outbox rows on the local bus, in id
// order, on every hub instance. NOTIFY only wakes it; it always reads by id
// from where it stopped, and also polls, so a dropped notification or a
// lost connection never loses an event.
type OutboxFollower struct {
	pool    *pgxpool.Pool
	bus     *Bus
	log     *slog.Logger
	metrics *Metrics
	poll    time.Duration

	mu       sync.Mutex
	lastID   int64     // watermark: every row up to it has been published
	gapStart time.Time // when a hole right after lastID was first seen
}

// gapWait is how long a hole in outbox ids is waited for. Ids are taken
// before commit, so a later id can commit first; a hole that stays is a
// rolled-back transaction (sequences are not transactional).
const gapWait = 10 * time.Second

// primeOverlap is how many ids below the newest a starting follower reads
// again, for writers that took an id before it looked and commit after.
const primeOverlap = 1000

// NewOutboxFollower returns a follower; Run starts it.
func NewOutboxFollower(pool *pgxpool.Pool, bus *Bus, log *slog.Logger, m *Metrics) *OutboxFollower {
	return &OutboxFollower{pool: pool, bus: bus, log: log, metrics: m, poll: time.Second}
}

// Run follows the outbox until ctx is done. It first publishes the latest
// event of every topic (so late joiners have a current value), then follows.
// Connection failures are retried with backoff.
func (f *OutboxFollower) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := f.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		f.log.Warn("outbox follower interrupted; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// LastID returns the id of the last outbox row published.
func (f *OutboxFollower) LastID() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastID
}

func (f *OutboxFollower) follow(ctx context.Context) error {
	conn, err := f.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+OutboxChannel); err != nil {
		return err
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "UNLISTEN "+OutboxChannel) }()
	if f.LastID() == 0 {
		if err := f.primeLatest(ctx); err != nil {
			return err
		}
	}
	for {
		if err := f.catchUp(ctx); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, f.poll)
		_, err := conn.Conn().WaitForNotification(wctx)
		cancel()
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
}

// primeLatest publishes the newest event of every topic and starts following
// after the newest outbox id, so a starting instance has current values
// without replaying history.
func (f *OutboxFollower) primeLatest(ctx context.Context) error {
	var maxID int64
	if err := f.pool.QueryRow(ctx, `SELECT coalesce(max(id),0) FROM outbox`).Scan(&maxID); err != nil {
		return err
	}
	rows, err := f.pool.Query(ctx, `
		SELECT DISTINCT ON (topic) id, topic, topic_seq, data, created_at
		FROM outbox WHERE id <= $1 ORDER BY topic, id DESC`, maxID)
	if err != nil {
		return err
	}
	if _, _, err := f.publishRows(rows, false); err != nil {
		return err
	}
	// Start the watermark a page below the newest id: a transaction that
	// took a smaller id but had not committed yet is still picked up;
	// rows already covered by priming are ignored by the bus (their seq).
	f.mu.Lock()
	f.lastID = max(f.lastID, maxID-primeOverlap)
	f.mu.Unlock()
	return nil
}

// catchUp publishes rows after the watermark. Rows past a hole are published
// at once (per topic, commit order is sequence order, so nothing is
// reordered) and read again until the hole fills or expires; the bus ignores
// the repeats by sequence number.
func (f *OutboxFollower) catchUp(ctx context.Context) error {
	cursor := f.LastID()
	for {
		rows, err := f.pool.Query(ctx, `
			SELECT id, topic, topic_seq, data, created_at FROM outbox
			WHERE id > $1 ORDER BY id LIMIT 1000`, cursor)
		if err != nil {
			return err
		}
		n, last, err := f.publishRows(rows, true)
		if err != nil {
			return err
		}
		if n < 1000 {
			return nil
		}
		// Page on by what was read, not by the watermark, which stays
		// behind a hole while rows after it keep coming.
		cursor = last
	}
}

// publishRows publishes rows in order. With watermark, lastID advances only
// over contiguous ids (or past a hole older than gapWait); without (priming),
// it does not move: primeLatest sets it.
func (f *OutboxFollower) publishRows(rows pgx.Rows, watermark bool) (n int, last int64, err error) {
	defer rows.Close()
	for rows.Next() {
		var (
			id      int64
			topic   string
			seq     int64
			data    []byte
			created time.Time
		)
		if err := rows.Scan(&id, &topic, &seq, &data, &created); err != nil {
			return n, last, err
		}
		n++
		last = id
		f.bus.PublishEvent(&Event{Topic: topic, Seq: uint64(seq), Time: created, Data: json.RawMessage(data)})
		if watermark {
			f.advance(id)
		}
		if f.metrics != nil {
			f.metrics.OutboxFollowed.Inc()
			f.metrics.OutboxLag.Set(time.Since(created).Seconds())
		}
	}
	return n, last, rows.Err()
}

func (f *OutboxFollower) advance(id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case id == f.lastID+1:
		f.lastID = id
		f.gapStart = time.Time{}
	case id <= f.lastID:
	case f.gapStart.IsZero():
		f.gapStart = time.Now()
	case time.Since(f.gapStart) > gapWait:
		f.log.Warn("outbox: skipping ids never committed", "from", f.lastID+1, "to", id-1)
		f.lastID = id
		f.gapStart = time.Time{}
	}
}
