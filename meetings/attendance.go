package meetings

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/communehub/communehub/hub"
)

func (c *cmd) attendanceOpen() error {
	if c.m.State != MeetingScheduled && c.m.State != MeetingOpen {
		return hub.Errorf(hub.EConflict, "meeting %d is %s; the attendance register is closed", c.m.ID, c.m.State)
	}
	return nil
}

// Join records that an invitee arrived: online (over the meeting websocket)
// or in the hall. A participant coming back within the grace period after a
// dropped link continues the same stretch of presence.
func (p *Proceedings) Join(ctx context.Context, who *Invitee, mode string) error {
	if mode == "" {
		mode = AttOnline
	}
	if mode != AttOnline && mode != AttInHall {
		return hub.FieldError("mode", "must be online or in_hall")
	}
	return p.exec(ctx, who.MeetingID, func(c *cmd) error {
		v, err := c.actor(who)
		if err != nil {
			return err
		}
		if err := c.attendanceOpen(); err != nil {
			return err
		}
		status := c.st.StatusOf(v.ID)
		if status == mode || (status == AttInHall && mode == AttOnline) {
			return nil // already there; someone in the hall who opens the page stays "in the hall"
		}
		return c.emit(EvJoined, v.ID, evAttendance{Invitee: v.ID, Mode: mode})
	})
}

// Drop records that an online participant's link dropped: "reconnecting"
// until it comes back (Join) or the grace period passes (Sweep).
func (p *Proceedings) Drop(ctx context.Context, who *Invitee) error {
	return p.exec(ctx, who.MeetingID, func(c *cmd) error {
		v, err := c.actor(who)
		if err != nil {
			return err
		}
		if c.st.StatusOf(v.ID) != AttOnline || c.m.State == MeetingClosed {
			return nil
		}
		return c.emit(EvDropped, 0, evAttendance{Invitee: v.ID})
	})
}

// Leave records that an invitee left the meeting.
func (p *Proceedings) Leave(ctx context.Context, who *Invitee) error {
	return p.exec(ctx, who.MeetingID, func(c *cmd) error {
		v, err := c.actor(who)
		if err != nil {
			return err
		}
		if !present(c.st.StatusOf(v.ID)) || c.m.State == MeetingClosed {
			return nil
		}
		return c.emit(EvLeft, v.ID, evAttendance{Invitee: v.ID})
	})
}

// MarkAttendance sets an invitee's line of the register (the secretary or
// the chair): in_hall, online, absent (with a reason) or expected.
func (p *Proceedings) MarkAttendance(ctx context.Context, who *Invitee, invitee int64, status, reason string) error {
	reason = strings.TrimSpace(reason)
	switch status {
	case AttInHall, AttOnline, AttExpected:
		if reason != "" {
			return hub.FieldError("reason", "a reason is only recorded for an absence")
		}
	case AttAbsent:
		if utf8.RuneCountInString(reason) > 300 {
			return hub.FieldError("reason", "at most 300 characters")
		}
	default:
		return hub.FieldError("status", "must be in_hall, online, absent or expected")
	}
	return p.exec(ctx, who.MeetingID, func(c *cmd) error {
		v, err := c.secretaryOrChair(who, "keep the attendance register")
		if err != nil {
			return err
		}
		if err := c.attendanceOpen(); err != nil {
			return err
		}
		t, err := c.target(invitee, "invitee")
		if err != nil {
			return err
		}
		if cur := c.st.Attendance[t.ID]; cur != nil && cur.Status == status && cur.Reason == reason {
			return nil
		}
		return c.emit(EvMarked, v.ID, evAttendance{Invitee: t.ID, Status: status, Reason: reason})
	})
}

// Sweep ends the presence of participants whose link dropped more than the
// grace period ago; they are recorded as having left when the link dropped.
// It looks at open meetings and those scheduled within a day of now (where
// people connect before the chair opens). The hub runs it every second; it
// returns how many it ended.
func (p *Proceedings) Sweep(ctx context.Context) (int, error) {
	now := p.now()
	ids, err := meetingsToSweep(ctx, p.pool, now.Add(-24*time.Hour), now.Add(24*time.Hour))
	if err != nil {
		return 0, err
	}
	total := 0
	for _, id := range ids {
		st, err := p.State(ctx, id)
		if err != nil {
			return total, err
		}
		if len(p.expired(st)) == 0 {
			continue
		}
		err = p.exec(ctx, id, func(c *cmd) error {
			for _, inv := range p.expired(c.st) {
				since := *c.st.Attendance[inv].Dropped
				if err := c.emit(EvLeft, 0, evAttendance{Invitee: inv, Since: &since}); err != nil {
					return err
				}
				total++
			}
			return nil
		})
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (p *Proceedings) expired(st *ProcState) []int64 {
	var out []int64
	deadline := p.now().Add(-p.cfg.ReconnectGrace)
	for id, pr := range st.Attendance {
		if pr.Status == AttReconnecting && pr.Dropped != nil && !pr.Dropped.After(deadline) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// sweepEvery runs Sweep every interval, and refreshes the units' now/next
// every minute, until ctx ends.
func (p *Proceedings) sweepEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	minute := time.NewTicker(time.Minute)
	defer minute.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := p.Sweep(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn("meetings: attendance sweep", "err", err)
			} else if n > 0 {
				p.log.Info("meetings: reconnect grace expired", "participants", n)
			}
		case <-minute.C:
			if err := p.RefreshUnits(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn("meetings: refresh now/next", "err", err)
			}
		}
	}
}
