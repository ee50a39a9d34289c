package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// OutboxChannel is the NOTIFY channel. The payload is the whole row,
// "id seq unixmicro topic data", so that followers publish it without
// reading the table; a row whose payload would pass PostgreSQL's 8,000-byte
// limit is notified by its id alone, and followers read it.
const OutboxChannel = "communehub_outbox"

// maxNotifyPayload is PostgreSQL's NOTIFY payload limit (8000 bytes, less
// the terminating zero).
const maxNotifyPayload = 7999

// Querier is what WriteEvent writes through: a pgx.Tx, or a pool or
// connection outside any transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// writeEventSQL takes the topic's next sequence number (the row lock on
// outbox_topic_seq serialises writers of one topic until commit), inserts
// the row and queues its notification, in one statement: one round trip.
const writeEventSQL = `
	WITH s AS (
		INSERT INTO outbox_topic_seq(topic, seq) VALUES ($1, 1)
		ON CONFLICT (topic) DO UPDATE SET seq = outbox_topic_seq.seq + 1
		RETURNING seq),
	r AS (
		INSERT INTO outbox(topic, topic_seq, data) SELECT $1, s.seq, $2 FROM s
		RETURNING id, topic, topic_seq, data, created_at),
	p AS (
		SELECT id, id::text || ' ' || topic_seq::text || ' ' ||
			(extract(epoch FROM created_at) * 1000000)::bigint::text || ' ' || topic || ' ' || data::text AS payload
		FROM r)
	SELECT id, pg_notify($3, CASE WHEN octet_length(payload) <= $4 THEN payload ELSE id::text END)::text FROM p`

// WriteEvent records an event in the outbox. Given a transaction, the event
// commits or rolls back with the change that caused it; given a pool (an
// event that goes with no other change), the single statement is its own
// transaction, committed when WriteEvent returns. It takes the topic's next
// sequence number (serialising writers of one topic until commit) and
// notifies every hub instance at commit; each instance's OutboxFollower
// publishes it on its bus.
func WriteEvent(ctx context.Context, db Querier, topic string, data any) error {
	if !ValidTopic(topic) {
		return fmt.Errorf("outbox: invalid topic %q", topic)
	}
	raw, err := marshalData(data)
	if err != nil {
		return fmt.Errorf("outbox: encode %s: %w", topic, err)
	}
	var id int64
	if err := db.QueryRow(ctx, writeEventSQL, topic, raw, OutboxChannel, maxNotifyPayload).Scan(&id, nil); err != nil {
		return fmt.Errorf("outbox: write %s: %w", topic, err)
	}
	return nil
}

// parseNotification reads a NOTIFY payload: the whole row, or (a row too
// large for a payload, or a writer of an earlier version) only its id.
func parseNotification(payload string) (id int64, ev *Event, ok bool) {
	head, data, full := cutN(payload, 4)
	if !full {
		id, err := strconv.ParseInt(payload, 10, 64)
		return id, nil, err == nil
	}
	id, err1 := strconv.ParseInt(head[0], 10, 64)
	seq, err2 := strconv.ParseUint(head[1], 10, 64)
	micros, err3 := strconv.ParseInt(head[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || !json.Valid([]byte(data)) {
		return 0, nil, false
	}
	return id, &Event{Topic: head[3], Seq: seq, Time: time.UnixMicro(micros), Data: json.RawMessage(data)}, true
}

// cutN splits the first n space-separated fields off s.
func cutN(s string, n int) (fields []string, rest string, ok bool) {
	for range n {
		f, r, found := strings.Cut(s, " ")
		if !found {
			return nil, "", false
		}
		fields = append(fields, f)
		s = r
	}
	return fields, s, true
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

// follow holds one connection for as long as it follows: it LISTENs and
// reads the table on it (notifications that arrive during a read are kept
// by pgx for the next wait), so the follower never queues for the pool
// behind the writers it follows.
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
		if err := f.primeLatest(ctx, conn); err != nil {
			return err
		}
	}
	// Read the table at the start and then once per poll period, even
	// when notifications keep coming (belt and braces: a notification is
	// not lost on a live LISTEN connection), and whenever a notification
	// does not carry its row. Every other notification is published as it
	// arrives: notifications come in commit order, which per topic is
	// sequence order, so the follower is never behind a query.
	read := true
	var lastRead time.Time
	for {
		if read || time.Since(lastRead) >= f.poll {
			if err := f.catchUp(ctx, conn); err != nil {
				return err
			}
			read, lastRead = false, time.Now()
		}
		wctx, cancel := context.WithTimeout(ctx, f.poll)
		n, err := conn.Conn().WaitForNotification(wctx)
		cancel()
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if err != nil {
			continue // quiet for a poll period: read the table
		}
		id, ev, ok := parseNotification(n.Payload)
		if !ok || ev == nil {
			read = true
			continue
		}
		f.publish(id, ev, true)
	}
}

// primeLatest publishes the newest event of every topic and starts following
// after the newest outbox id, so a starting instance has current values
// without replaying history.
func (f *OutboxFollower) primeLatest(ctx context.Context, conn *pgxpool.Conn) error {
	var maxID int64
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(id),0) FROM outbox`).Scan(&maxID); err != nil {
		return err
	}
	rows, err := conn.Query(ctx, `
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
func (f *OutboxFollower) catchUp(ctx context.Context, conn *pgxpool.Conn) error {
	cursor := f.LastID()
	for {
		rows, err := conn.Query(ctx, `
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
		f.publish(id, &Event{Topic: topic, Seq: uint64(seq), Time: created, Data: json.RawMessage(data)}, watermark)
	}
	return n, last, rows.Err()
}

// publish hands one outbox row to the bus (which ignores a seq it already
// has) and, with watermark, advances the watermark over it.
func (f *OutboxFollower) publish(id int64, ev *Event, watermark bool) {
	f.bus.PublishEvent(ev)
	if watermark {
		f.advance(id)
	}
	if f.metrics != nil {
		f.metrics.OutboxFollowed.Inc()
		f.metrics.OutboxLag.Set(time.Since(ev.Time).Seconds())
	}
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
