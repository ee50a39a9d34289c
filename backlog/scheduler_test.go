package backlog

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/communehub/communehub/hub/hubtest"
)

// TestSchedulerPublishesWhenADeadlinePasses: with no write, the commune's
// kpi snapshot is republished when a dossier's deadline passes.
func TestSchedulerPublishesWhenADeadlinePasses(t *testing.T) {
	s, pool := newTestService(t, nil)
	putProc(t, s, "1.001193", false, false, 3)
	ctx, cancel := context.WithCancel(context.Background())
	sc := NewScheduler(s)
	done := make(chan struct{})
	go func() { defer close(done); sc.Run(ctx) }()
	defer func() { cancel(); <-done }()

	now := time.Now()
	due := now.Add(2 * time.Second).Truncate(time.Second).Add(time.Second) // portal times have whole seconds
	upsert(t, s, "SCH-1", map[string]any{"MaTTHC": "1.001193", "TrangThaiHoSo": 4,
		"NgayTiepNhan": FormatPortalTime(now.Add(-time.Hour)), "NgayHenTra": FormatPortalTime(due)})
	var lastID int64
	_ = pool.QueryRow(ctx, `SELECT max(id) FROM outbox`).Scan(&lastID)
	latest := func() (overdue int64, at time.Time, ok bool) {
		var data []byte
		err := pool.QueryRow(ctx, `SELECT data, created_at FROM outbox WHERE topic='commune/03244/kpi' AND id > $1 ORDER BY id DESC LIMIT 1`, lastID).Scan(&data, &at)
		if err != nil {
			return 0, at, false
		}
		var k KPIs
		_ = json.Unmarshal(data, &k)
		return k.Dossiers.OpenOverdue, at, true
	}
	if _, _, ok := latest(); ok {
		t.Fatal("republished before the deadline")
	}
	hubtest.WaitFor(t, 10*time.Second, func() bool { n, _, ok := latest(); return ok && n == 1 }, "an overdue snapshot after the deadline")
	_, at, _ := latest()
	if at.Before(due) || at.Sub(due) > 3*time.Second {
		t.Errorf("republished at %v for a deadline at %v", at, due)
	}
	for _, topic := range []string{"commune/03244/backlog", "province/11/kpi"} {
		var n int
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE topic=$1 AND id > $2`, topic, lastID).Scan(&n)
		if n == 0 {
			t.Errorf("%s was not republished", topic)
		}
	}
}

// TestSchedulerNextAndCrossed checks, on a fixed clock, which moment the
// scheduler waits for and which communes it republishes.
func TestSchedulerNextAndCrossed(t *testing.T) {
	clock := newClock(vnt(2026, 3, 16, 10, 0)) // Monday; due soon = within 2 working days
	s, _ := newTestService(t, clock)
	putProc(t, s, "1.001193", false, false, 3)
	sc := NewScheduler(s)
	ctx := context.Background()
	// Si Pa Phìn: due Wed 18 Mar 11:00 — enters the window at Mon 16 Mar 11:00.
	upsert(t, s, "N-1", map[string]any{"MaTTHC": "1.001193", "MaDVHC": "03199", "TrangThaiHoSo": 4,
		"NgayTiepNhan": "20260316080000", "NgayHenTra": "20260318110000"})
	// Sáng Nhè: due today 15:00 (already due soon), overdue after 15:00.
	upsert(t, s, "N-2", map[string]any{"MaTTHC": "1.001193", "TrangThaiHoSo": 4,
		"NgayTiepNhan": "20260316080000", "NgayHenTra": "20260316150000"})
	// A paused dossier has no crossing.
	upsert(t, s, "N-3", map[string]any{"MaTTHC": "1.001193", "MaDVHC": "03127", "TrangThaiHoSo": 5,
		"NgayTiepNhan": "20260316080000", "NgayHenTra": "20260316120000"})
	handled := clock.Now()
	next, err := sc.next(ctx, handled)
	if err != nil {
		t.Fatal(err)
	}
	if want := vnt(2026, 3, 16, 11, 0); next.Sub(want).Abs() > 5*time.Millisecond {
		t.Errorf("next = %v, want %v (N-1 enters the due-soon window)", next, want)
	}
	units, err := sc.crossed(ctx, handled, vnt(2026, 3, 16, 11, 0).Add(time.Second))
	if err != nil || len(units) != 1 || units[0] != "03199" {
		t.Errorf("crossed by 11:00 = %v %v, want [03199]", units, err)
	}
	next, _ = sc.next(ctx, vnt(2026, 3, 16, 11, 0).Add(time.Second))
	if want := vnt(2026, 3, 16, 15, 0); next.Sub(want).Abs() > 5*time.Millisecond {
		t.Errorf("next after 11:00 = %v, want %v (N-2 becomes overdue)", next, want)
	}
	units, _ = sc.crossed(ctx, vnt(2026, 3, 16, 14, 0), vnt(2026, 3, 16, 15, 1))
	if len(units) != 1 || units[0] != "03244" {
		t.Errorf("crossed by 15:01 = %v, want [03244]", units)
	}
	// Nothing else before midnight: the next wake-up is the day turning.
	next, _ = sc.next(ctx, vnt(2026, 3, 16, 15, 1))
	if want := vnt(2026, 3, 17, 0, 0); !next.Equal(want) {
		t.Errorf("next after 15:01 = %v, want midnight %v", next, want)
	}
	units, _ = sc.crossed(ctx, vnt(2026, 3, 16, 23, 0), vnt(2026, 3, 17, 0, 0).Add(time.Millisecond))
	if len(units) != 3 {
		t.Errorf("at midnight every commune with data is republished, got %v", units)
	}
}
