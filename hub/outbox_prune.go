package hub

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The outbox is a hand-off between instances, not a history: a follower
// needs the rows after its watermark (seconds behind, minutes after a lost
// connection) and a starting instance needs each topic's newest row
// (primeLatest). Without pruning the table grew by every event forever (at
// 200 events/s, 17 million rows a day) and each start's priming scan with
// it. Rows older than the retention go, except each topic's newest, which
// stays however old (a topic that changes once a year still has its current
// value); outbox_topic_seq is never touched, so sequence numbers go on.

// outboxPruneBatch is how many rows one DELETE takes: short transactions,
// so writers and followers never wait long on the pruner.
const outboxPruneBatch = 5000

// outboxPruneBatches bounds one round's work (a long backlog, e.g. the
// first round after an upgrade, is spread over several rounds).
const outboxPruneBatches = 200

// PruneOutbox deletes outbox rows created before cutoff, except the newest
// row of each topic, in batches, and returns how many it deleted. Several
// instances may run it at once: a row is deleted once.
func PruneOutbox(ctx context.Context, pool *pgxpool.Pool, cutoff time.Time) (int64, error) {
	var total int64
	for range outboxPruneBatches {
		tag, err := pool.Exec(ctx, `
			DELETE FROM outbox WHERE id IN (
				SELECT o.id FROM outbox o
				WHERE o.created_at < $1
				  AND EXISTS (SELECT 1 FROM outbox n WHERE n.topic = o.topic AND n.topic_seq > o.topic_seq)
				ORDER BY o.created_at
				LIMIT $2
				FOR UPDATE SKIP LOCKED)`, cutoff, outboxPruneBatch)
		if err != nil {
			return total, err
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < outboxPruneBatch {
			break
		}
	}
	return total, nil
}

// OutboxPruneEvery is how often RunOutboxPruner prunes.
const OutboxPruneEvery = time.Minute

// RunOutboxPruner prunes the outbox of rows older than retention once
// per OutboxPruneEvery until ctx is done, counting what it deleted;
// failures are logged (once per round) and retried next round.
func RunOutboxPruner(ctx context.Context, pool *pgxpool.Pool, retention time.Duration, log *slog.Logger, m *Metrics) {
	t := time.NewTicker(OutboxPruneEvery)
	defer t.Stop()
	for {
		n, err := PruneOutbox(ctx, pool, time.Now().Add(-retention))
		if m != nil && n > 0 {
			m.OutboxPruned.Add(float64(n))
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("outbox pruning failed; retrying next round", "err", err, "deleted", n, "in", OutboxPruneEvery)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
