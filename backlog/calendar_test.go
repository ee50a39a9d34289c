package backlog

import (
	"testing"
	"time"
)

func testCalendar(t *testing.T) *Calendar {
	c, err := NewCalendar([]Holiday{
		{Day: "2025-04-30", Name: "30/4"}, {Day: "2025-05-01", Name: "1/5"}, {Day: "2025-05-02", Name: "bridge"},
		{Day: "2025-04-26", Name: "make-up Saturday", Kind: "workday"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestWorkingDays(t *testing.T) {
	c := testCalendar(t)
	cases := []struct {
		name string
		from time.Time
		n    int
		want time.Time
	}{
		{"plain weekdays", vnt(2025, 4, 7, 9, 30), 3, vnt(2025, 4, 10, 9, 30)},
		{"over a weekend", vnt(2025, 4, 11, 14, 0), 1, vnt(2025, 4, 14, 14, 0)},
		{"worked Saturday counts", vnt(2025, 4, 25, 10, 0), 1, vnt(2025, 4, 26, 10, 0)},
		{"holidays skipped", vnt(2025, 4, 29, 10, 0), 1, vnt(2025, 5, 5, 10, 0)},
		{"received on Sunday starts Monday 00:00", vnt(2025, 4, 13, 20, 0), 1, vnt(2025, 4, 15, 0, 0)},
		{"zero keeps the time", vnt(2025, 4, 8, 10, 0), 0, vnt(2025, 4, 8, 10, 0)},
	}
	for _, tc := range cases {
		if got := c.AddWorkingDays(tc.from, tc.n); !got.Equal(tc.want) {
			t.Errorf("%s: AddWorkingDays(%v, %d) = %v, want %v", tc.name, tc.from, tc.n, got, tc.want)
		}
	}
	if c.IsWorkingDay(vnt(2025, 5, 1, 12, 0)) || !c.IsWorkingDay(vnt(2025, 4, 26, 12, 0)) || c.IsWorkingDay(vnt(2025, 4, 27, 12, 0)) {
		t.Error("IsWorkingDay disagrees with the table")
	}
	// Day boundaries are Vietnam days: 2025-04-11 23:30 UTC is Saturday 06:30 in Vietnam.
	if c.IsWorkingDay(time.Date(2025, 4, 11, 23, 30, 0, 0, time.UTC)) {
		t.Error("IsWorkingDay used UTC days")
	}
}

func TestAddWorkingDaysIsMonotone(t *testing.T) {
	c := testCalendar(t)
	start := vnt(2025, 4, 20, 0, 0)
	prev := c.AddWorkingDays(start, 2)
	for m := 0; m < 20*24*60; m += 17 {
		t0 := start.Add(time.Duration(m) * time.Minute)
		got := c.AddWorkingDays(t0, 2)
		if got.Before(prev) {
			t.Fatalf("AddWorkingDays decreased at %v: %v < %v", t0, got, prev)
		}
		prev = got
	}
}

func TestWorkingDaysUntil(t *testing.T) {
	c := testCalendar(t)
	target := vnt(2025, 5, 6, 15, 0) // Tuesday after the holidays
	lo := vnt(2025, 4, 28, 8, 0)
	got := c.WorkingDaysUntil(lo, target, 2)
	if c.AddWorkingDays(got, 2).Before(target) {
		t.Fatalf("at %v the target is not yet within 2 working days", got)
	}
	if !c.AddWorkingDays(got.Add(-2*time.Millisecond), 2).Before(target) {
		t.Fatalf("%v is not the earliest moment", got)
	}
	// 30/4–2/5 are off, so Tue 29 Apr 15:00 + 2 working days = Tue 6 May 15:00: the window opens then.
	if want := vnt(2025, 4, 29, 15, 0); got.Sub(want).Abs() > 2*time.Millisecond {
		t.Errorf("WorkingDaysUntil = %v, want %v", got, want)
	}
	if lo2 := vnt(2025, 5, 6, 14, 0); !c.WorkingDaysUntil(lo2, target, 2).Equal(lo2) {
		t.Error("a target already in the window should return lo")
	}
}

func TestDueAt(t *testing.T) {
	c := testCalendar(t)
	rec := vnt(2025, 4, 29, 16, 20)
	cases := []struct {
		d    Deadline
		want time.Time
	}{
		{Deadline{3, "working_day"}, vnt(2025, 5, 7, 16, 20)},
		{Deadline{0, "working_day"}, vnt(2025, 4, 30, 0, 0)},
		{Deadline{2, "day"}, vnt(2025, 5, 1, 16, 20)},
		{Deadline{8, "hour"}, vnt(2025, 4, 30, 0, 20)},
		{Deadline{1, "month"}, vnt(2025, 5, 29, 16, 20)},
	}
	for _, tc := range cases {
		if got := c.DueAt(rec, tc.d); !got.Equal(tc.want) {
			t.Errorf("DueAt(%v) = %v, want %v", tc.d, got, tc.want)
		}
	}
	if got, want := c.EndOfWorkingDay(vnt(2025, 5, 1, 9, 0)), vnt(2025, 5, 6, 0, 0); !got.Equal(want) {
		t.Errorf("EndOfWorkingDay on a holiday = %v, want %v", got, want)
	}
}
