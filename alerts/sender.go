package alerts

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// The sender takes due rows from alert_queue and sends them. A row is
// claimed by moving its next_at one lease ahead (FOR UPDATE SKIP LOCKED:
// several instances never take the same row); a crash mid-send leaves the
// row to be sent again when the lease ends, so delivery is at least once
// (webhooks carry the row id in X-CommuneHub-Delivery for receivers to
// drop a repeat). A failure is retried with exponential backoff, from
// RetryBase doubling to RetryMax, until GiveUpAfter from when it was
// queued; a 4xx answer fails it at once. Each channel has a token bucket
// of rate_per_min messages a minute: a row over the limit waits without an
// attempt counted.

const claimLease = 2 * time.Minute

// claimed is a claimed queue row.
type claimed struct {
	message
	ChannelID int64
	Attempts  int
	CreatedAt time.Time
}

// sendDue sends the due rows, a batch at a time, until none is due; it
// returns how many it handled.
func (s *Service) sendDue(ctx context.Context) (int, error) {
	total := 0
	for ctx.Err() == nil {
		rows, err := s.pool.Query(ctx, `UPDATE alert_queue q SET next_at = now() + $1::interval
			FROM (SELECT id FROM alert_queue WHERE state='queued' AND next_at <= now() ORDER BY next_at, id LIMIT 20 FOR UPDATE SKIP LOCKED) d
			WHERE q.id = d.id
			RETURNING q.id, q.source, q.phase, q.address, q.subject, q.body, q.payload, q.channel_id, q.attempts, q.created_at`, claimLease)
		if err != nil {
			return total, err
		}
		batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (claimed, error) {
			var c claimed
			err := r.Scan(&c.ID, &c.Source, &c.Phase, &c.To, &c.Subject, &c.Body, &c.Payload, &c.ChannelID, &c.Attempts, &c.CreatedAt)
			return c, err
		})
		if err != nil || len(batch) == 0 {
			return total, err
		}
		channels, err := queryChannels(ctx, s.pool)
		if err != nil {
			return total, err
		}
		byID := map[int64]Channel{}
		for _, c := range channels {
			byID[c.ID] = c
		}
		for _, c := range batch {
			if err := s.sendOne(ctx, byID[c.ChannelID], c); err != nil {
				return total, err
			}
			total++
		}
	}
	return total, nil
}

// sendOne sends a claimed row and records the outcome.
func (s *Service) sendOne(ctx context.Context, ch Channel, c claimed) error {
	if ch.ID == 0 || !ch.Enabled {
		// Disabled: wait for it to be enabled again (a deleted channel's
		// rows are deleted with it).
		_, err := s.pool.Exec(ctx, `UPDATE alert_queue SET next_at = now() + interval '1 minute', last_error='channel disabled' WHERE id=$1`, c.ID)
		return err
	}
	if wait := s.limiter.take(ch.ID, ch.RatePerMin, s.now()); wait > 0 {
		_, err := s.pool.Exec(ctx, `UPDATE alert_queue SET next_at = now() + $2::interval WHERE id=$1`, c.ID, wait)
		return err
	}
	err := s.deliver(ctx, ch, c.message)
	if ctx.Err() != nil {
		return ctx.Err() // stopping: the lease returns the row to the queue
	}
	attempts := c.Attempts + 1
	if err == nil {
		s.m.sent.WithLabelValues(ch.Kind).Inc()
		_, err := s.pool.Exec(ctx, `UPDATE alert_queue SET state='sent', sent_at=now(), attempts=$2, last_error='' WHERE id=$1`, c.ID, attempts)
		return err
	}
	msg := clip(err.Error(), 500)
	var p permanent
	if errors.As(err, &p) || s.now().Sub(c.CreatedAt) >= s.cfg.GiveUpAfter {
		s.m.failed.WithLabelValues(ch.Kind).Inc()
		s.log.Warn("notification failed", "id", c.ID, "channel", ch.Name, "source", c.Source, "attempts", attempts, "err", msg)
		_, err := s.pool.Exec(ctx, `UPDATE alert_queue SET state='failed', attempts=$2, last_error=$3 WHERE id=$1`, c.ID, attempts, msg)
		return err
	}
	s.m.retried.WithLabelValues(ch.Kind).Inc()
	wait := s.backoff(attempts)
	var ra retryAfter
	if errors.As(err, &ra) && ra.after > wait {
		wait = ra.after
	}
	s.log.Info("notification will be retried", "id", c.ID, "channel", ch.Name, "attempts", attempts, "in", wait, "err", msg)
	_, err = s.pool.Exec(ctx, `UPDATE alert_queue SET attempts=$2, last_error=$3, next_at = now() + $4::interval WHERE id=$1`, c.ID, attempts, msg, wait)
	return err
}

// backoff is the wait after the n-th failed attempt: RetryBase·2^(n-1),
// at most RetryMax.
func (s *Service) backoff(n int) time.Duration {
	d := float64(s.cfg.RetryBase) * math.Pow(2, float64(n-1))
	if d > float64(s.cfg.RetryMax) || math.IsInf(d, 0) {
		return s.cfg.RetryMax
	}
	return time.Duration(d)
}

// limiter is a token bucket per channel (in this instance: several hubs
// each allow the rate).
type limiter struct {
	mu      sync.Mutex
	buckets map[int64]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// take spends a token of channel id (rate per minute) and returns 0, or
// how long until one is there.
func (l *limiter) take(id int64, perMin int, now time.Time) time.Duration {
	if perMin <= 0 {
		perMin = 30
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[int64]*bucket{}
	}
	b := l.buckets[id]
	if b == nil {
		b = &bucket{tokens: float64(perMin), at: now}
		l.buckets[id] = b
	}
	rate := float64(perMin) / float64(time.Minute)
	b.tokens = math.Min(float64(perMin), b.tokens+float64(now.Sub(b.at))*rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) / rate)
}
