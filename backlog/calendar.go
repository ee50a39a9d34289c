package backlog

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// VN is the Asia/Ho_Chi_Minh time zone in which every date is evaluated.
// Vietnam has had no daylight saving since 1975, so the fixed +07:00 zone is
// an exact fallback when the system has no zone database.
var VN = func() *time.Location {
	if l, err := time.LoadLocation("Asia/Ho_Chi_Minh"); err == nil {
		return l
	}
	return time.FixedZone("ICT", 7*3600)
}()

// dayKey identifies a Vietnam calendar day as yyyymmdd.
type dayKey int

func keyOf(t time.Time) dayKey {
	y, m, d := t.In(VN).Date()
	return dayKey(y*10000 + int(m)*100 + d)
}

// startOfDay returns midnight (Vietnam time) of t's day.
func startOfDay(t time.Time) time.Time {
	y, m, d := t.In(VN).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, VN)
}

// Holiday is one row of the holiday table: a weekday off ("holiday") or a
// weekend day worked in exchange ("workday").
type Holiday struct {
	Day  string `json:"day"` // YYYY-MM-DD
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// Calendar answers working-day questions from the holiday table. It is
// safe for concurrent use; Load replaces its contents.
type Calendar struct {
	mu       sync.RWMutex
	off      map[dayKey]bool // weekdays off
	on       map[dayKey]bool // weekend days worked
	loadedAt time.Time
}

// NewCalendar returns a calendar with the given holidays (weekends only
// when empty).
func NewCalendar(days []Holiday) (*Calendar, error) {
	c := &Calendar{}
	return c, c.set(days)
}

func (c *Calendar) set(days []Holiday) error {
	off, on := map[dayKey]bool{}, map[dayKey]bool{}
	for _, h := range days {
		t, err := time.ParseInLocation(time.DateOnly, h.Day, VN)
		if err != nil {
			return fmt.Errorf("holiday %q: %w", h.Day, err)
		}
		if h.Kind == "workday" {
			on[keyOf(t)] = true
		} else {
			off[keyOf(t)] = true
		}
	}
	c.mu.Lock()
	c.off, c.on, c.loadedAt = off, on, time.Now()
	c.mu.Unlock()
	return nil
}

// Load reads the holiday table.
func (c *Calendar) Load(ctx context.Context, pool *pgxpool.Pool) error {
	days, err := listHolidays(ctx, pool, 0)
	if err != nil {
		return err
	}
	return c.set(days)
}

// LoadedAt is when the calendar was last loaded.
func (c *Calendar) LoadedAt() time.Time {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.loadedAt
}

// IsWorkingDay reports whether t's Vietnam day is a working day: Monday to
// Friday except holidays, plus weekend days listed as worked.
func (c *Calendar) IsWorkingDay(t time.Time) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.workingLocked(t)
}

func (c *Calendar) workingLocked(t time.Time) bool {
	k := keyOf(t)
	if c.on[k] {
		return true
	}
	if c.off[k] {
		return false
	}
	wd := t.In(VN).Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// nextWorkingDayStart returns midnight of the first working day strictly
// after t's day.
func (c *Calendar) nextWorkingDayStartLocked(t time.Time) time.Time {
	d := startOfDay(t)
	for i := 0; i < 400; i++ {
		d = d.AddDate(0, 0, 1)
		if c.workingLocked(d) {
			return d
		}
	}
	return d // a year without working days: only with a broken table
}

// normalizeLocked moves a time on a non-working day to the start of the
// next working day; other times are unchanged.
func (c *Calendar) normalizeLocked(t time.Time) time.Time {
	if c.workingLocked(t) {
		return t.In(VN)
	}
	return c.nextWorkingDayStartLocked(t)
}

// AddWorkingDays returns the same clock time n working days later. A time
// on a non-working day first moves to the start of the next working day, so
// the result never decreases as t increases (the scheduler relies on it).
func (c *Calendar) AddWorkingDays(t time.Time, n int) time.Time {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t = c.normalizeLocked(t)
	clock := t.Sub(startOfDay(t))
	d := startOfDay(t)
	for i := 0; i < n; i++ {
		d = c.nextWorkingDayStartLocked(d)
	}
	return addClock(d, clock)
}

// addClock adds a time of day to midnight of a day, in Vietnam time.
func addClock(midnight time.Time, clock time.Duration) time.Time {
	y, m, d := midnight.Date()
	return time.Date(y, m, d, 0, 0, 0, int(clock), VN)
}

// EndOfWorkingDay returns the end (next midnight) of the first working day
// on or after t's day: the limit for registering and presenting an urgent
// document received at t.
func (c *Calendar) EndOfWorkingDay(t time.Time) time.Time {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return startOfDay(c.normalizeLocked(t)).AddDate(0, 0, 1)
}

// WorkingDaysUntil returns (to the millisecond) the earliest time s in
// (lo, target] with AddWorkingDays(s, n) ≥ target: when target enters the
// "due within n working days" window. It returns lo when that already holds
// at lo. AddWorkingDays is non-decreasing, so a bisection finds it.
func (c *Calendar) WorkingDaysUntil(lo, target time.Time, n int) time.Time {
	if !c.AddWorkingDays(lo, n).Before(target) {
		return lo
	}
	hi := target // AddWorkingDays(target, n) ≥ target
	for hi.Sub(lo) > time.Millisecond {
		mid := lo.Add(hi.Sub(lo) / 2)
		if c.AddWorkingDays(mid, n).Before(target) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// Deadline is a legal processing time.
type Deadline struct {
	Value int    `json:"value"`
	Unit  string `json:"unit"` // working_day, day, hour, month
}

// DueAt computes the appointment date of a dossier received at t:
// working days skip weekends and holidays and keep the clock time (0
// working days: the end of the receipt's working day); days and hours are
// calendar time; months keep the day of month.
func (c *Calendar) DueAt(t time.Time, d Deadline) time.Time {
	switch d.Unit {
	case "working_day":
		if d.Value == 0 {
			return c.EndOfWorkingDay(t)
		}
		return c.AddWorkingDays(t, d.Value)
	case "day":
		if d.Value == 0 {
			return startOfDay(t).AddDate(0, 0, 1)
		}
		return t.In(VN).AddDate(0, 0, d.Value)
	case "hour":
		return t.Add(time.Duration(d.Value) * time.Hour)
	case "month":
		return t.In(VN).AddDate(0, d.Value, 0)
	}
	return t
}
