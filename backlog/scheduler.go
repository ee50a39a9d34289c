package backlog

import (
	"context"
	"sort"
	"time"
)

// Scheduler republishes snapshots when time alone changes them: a
// dossier's or document's deadline passes, a deadline enters the "due
// soon" window, or the Vietnam day turns (the wall period moves). It keeps
// one timer for the next such moment, found with index lookups; it never
// scans the open dossiers. Writes poke it, since they may bring a deadline
// sooner than the one it waits for.
type Scheduler struct {
	s      *Service
	wake   chan struct{}
	safety time.Duration // the timer never waits longer, so another instance's writes are seen
}

// NewScheduler returns the service's deadline scheduler; Run starts it.
func NewScheduler(s *Service) *Scheduler {
	sc := &Scheduler{s: s, wake: make(chan struct{}, 1), safety: 5 * time.Minute}
	s.poke = sc.Poke
	return sc
}

// Poke makes the scheduler recompute its next wake-up; it never blocks.
func (sc *Scheduler) Poke() {
	select {
	case sc.wake <- struct{}{}:
	default:
	}
}

// Run waits for deadline crossings and republishes until ctx ends. Every
// crossing at or after "handled" and before now has been republished.
func (sc *Scheduler) Run(ctx context.Context) {
	handled := sc.s.now()
	backoff := time.Second
	for ctx.Err() == nil {
		next, err := sc.next(ctx, handled)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			sc.s.log.Warn("deadline scheduler: find next crossing", "err", err, "retry_in", backoff)
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, time.Minute)
			continue
		}
		backoff = time.Second
		wait := next.Sub(sc.s.now())
		if wait > 0 {
			timer := time.NewTimer(min(wait, sc.safety))
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-sc.wake:
				timer.Stop()
				continue
			case <-timer.C:
			}
		}
		now := sc.s.now()
		if now.Before(next) {
			continue // the safety timer fired first
		}
		units, err := sc.crossed(ctx, handled, now)
		if err == nil && len(units) > 0 {
			err = sc.s.Republish(ctx, units)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			sc.s.log.Warn("deadline scheduler: republish", "err", err)
			if !sleep(ctx, backoff) {
				return
			}
			continue
		}
		if len(units) > 0 {
			sc.s.metrics.wakeups.Inc()
			sc.s.log.Debug("deadline crossed; snapshots republished", "units", len(units))
		}
		handled = now
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// crossingSlack is added to a deadline so that, when the timer fires, the
// deadline is strictly past (overdue means now > deadline).
const crossingSlack = time.Millisecond

// next returns the earliest moment after handled at which a snapshot
// changes by itself.
func (sc *Scheduler) next(ctx context.Context, handled time.Time) (time.Time, error) {
	s := sc.s
	n := s.cfg.DueSoonDays
	soon := s.cal.AddWorkingDays(handled, n)
	y, m, d := handled.In(VN).Date()
	best := time.Date(y, m, d+1, 0, 0, 0, 0, VN) // the next Vietnam midnight
	dueNext, soonNext, docNext, urgentNext, err := nextDeadlines(ctx, s.pool, handled, soon)
	if err != nil {
		return time.Time{}, err
	}
	consider := func(t *time.Time) {
		if t != nil && t.Add(crossingSlack).Before(best) {
			best = t.Add(crossingSlack)
		}
	}
	consider(dueNext)
	consider(docNext)
	consider(urgentNext)
	if soonNext != nil {
		at := s.cal.WorkingDaysUntil(handled, *soonNext, n)
		consider(&at)
	}
	return best, nil
}

// crossed lists the communes whose snapshots changed by time alone in
// [from, to): a deadline passed, a deadline entered the due-soon window, or
// (when the day turned) every commune with data.
func (sc *Scheduler) crossed(ctx context.Context, from, to time.Time) ([]string, error) {
	s := sc.s
	n := s.cfg.DueSoonDays
	if keyOf(from) != keyOf(to) {
		return unitsWithData(ctx, s.pool)
	}
	units, err := unitsCrossed(ctx, s.pool, from, to, s.cal.AddWorkingDays(from, n), s.cal.AddWorkingDays(to, n))
	if err != nil {
		return nil, err
	}
	sort.Strings(units)
	return units, nil
}
