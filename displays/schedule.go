package displays

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// RunSchedule switches screens between layouts as their schedules say,
// checking every interval (default 20s) until ctx ends. Every instance may
// run it: the switch is a conditional update, so only one instance makes
// it and publishes the new configuration.
func (s *Service) RunSchedule(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 20 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.applySchedules(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.log.Warn("displays: schedule check failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// applySchedules brings every screen's active layout in line with its
// schedule at now; it returns how many it switched.
func (s *Service) applySchedules(ctx context.Context, now time.Time) error {
	rows, err := s.d.Pool.Query(ctx, `SELECT `+displayColumns+displayFrom+`
		WHERE d.revoked_at IS NULL AND (d.schedule <> '[]' OR d.override_until IS NOT NULL OR d.active_layout <> d.layout)`)
	if err != nil {
		return err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Display, error) { return scanDisplay(r) })
	if err != nil {
		return err
	}
	for _, d := range list {
		want := d.effectiveLayout(now)
		expired := d.OverrideUntil != nil && !now.Before(*d.OverrideUntil)
		if want == d.ActiveLayout && !expired {
			continue
		}
		err := pgx.BeginFunc(ctx, s.d.Pool, func(tx pgx.Tx) error {
			cur, err := s.store.get(ctx, tx, d.ID, true)
			if err != nil || cur.RevokedAt != nil {
				return err
			}
			stale := cur.OverrideUntil != nil && !now.Before(*cur.OverrideUntil)
			if stale {
				cur.OverrideUntil = nil
			}
			if cur.effectiveLayout(now) == cur.ActiveLayout && !stale {
				return nil // another instance did it
			}
			before := cur.ActiveLayout
			if err := s.store.save(ctx, tx, cur, now); err != nil {
				return err
			}
			if cur.ActiveLayout != before {
				s.log.Info("display layout switched by schedule", "id", cur.ID, "from", before, "to", cur.ActiveLayout)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
