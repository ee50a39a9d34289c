package devices

import (
	"context"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// Two instances that both see a threshold crossed store one alarm, and
// both show it with the same id; an acknowledgement or a clear made
// through one reaches the other.
func TestTwoInstancesShareOneAlarm(t *testing.T) {
	pool, _ := hubtest.NewDB(t, hub.Migrations, Migrations)
	ctx := context.Background()
	rule := Rule{ID: 1, Metric: "latency_ms", Op: ">", Threshold: 100, ClearThreshold: 50, Severity: "warning", Enabled: true}
	inst := func() (*lan, *persister) {
		l, p := lanOnDB(t, pool)
		l.st.setRulesAndWindows([]Rule{rule}, nil, t0)
		l.meta(t0, "router", "router", "")
		return l, p
	}
	a, pa := inst()
	b, pb := inst()
	sync := func(now time.Time) {
		t.Helper()
		active, err := queryAlarms(ctx, pool, "", "active", maxSyncedAlarms)
		if err != nil {
			t.Fatal(err)
		}
		a.st.syncAlarms(active, now)
		b.st.syncAlarms(active, now)
	}
	count := func(where string) (n int) {
		t.Helper()
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM alarms WHERE `+where).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Each sees a sample over the threshold and raises its own alarm.
	a.tele(t0.Add(time.Second), "router", map[string]float64{"latency_ms": 200})
	b.tele(t0.Add(1100*time.Millisecond), "router", map[string]float64{"latency_ms": 210})
	if sa, sb := a.snap(t0), b.snap(t0); len(sa.Alarms) != 1 || len(sb.Alarms) != 1 || sa.Alarms[0].ID == sb.Alarms[0].ID {
		t.Fatalf("before the mirror each has its own alarm: %+v %+v", sa.Alarms, sb.Alarms)
	}
	flushAll(t, pa, pb)
	if n := count("state <> 'cleared'"); n != 1 {
		t.Fatalf("%d active alarms stored, want 1", n)
	}
	sync(t0.Add(2 * time.Second))
	sa, sb := a.snap(t0), b.snap(t0)
	if len(sa.Alarms) != 1 || len(sb.Alarms) != 1 || sa.Alarms[0].ID != sb.Alarms[0].ID {
		t.Fatalf("after the mirror: %+v and %+v, want one alarm with one id", sa.Alarms, sb.Alarms)
	}
	id := sa.Alarms[0].ID
	// The loser's alarm is not written later either.
	b.tele(t0.Add(3*time.Second), "router", map[string]float64{"latency_ms": 220})
	flushAll(t, pa, pb)
	if n := count("true"); n != 1 {
		t.Fatalf("%d alarm rows, want 1", n)
	}

	// Acknowledged through a's API: b shows it acknowledged.
	if _, err := ackAlarm(ctx, pool, id, "tech", "on it"); err != nil {
		t.Fatal(err)
	}
	sync(t0.Add(4 * time.Second))
	if sb := b.snap(t0); len(sb.Alarms) != 1 || sb.Alarms[0].State != AlarmActiveAck {
		t.Fatalf("b after the ack through a: %+v", sb.Alarms)
	}

	// Cleared by b's sample: a drops it too, and does not raise it again.
	b.tele(t0.Add(5*time.Second), "router", map[string]float64{"latency_ms": 10})
	flushAll(t, pb)
	sync(t0.Add(12 * time.Second))
	if sa, sb := a.snap(t0), b.snap(t0); len(sa.Alarms) != 0 || len(sb.Alarms) != 0 {
		t.Fatalf("after the clear through b: %+v %+v", sa.Alarms, sb.Alarms)
	}
	if n := count("state <> 'cleared'"); n != 0 {
		t.Fatalf("%d active alarms stored after the clear", n)
	}
}

// Two instances that see a switch go down either side of a second (its
// incident id carries the second) store one incident and show one id.
func TestTwoInstancesShareOneIncident(t *testing.T) {
	pool, _ := hubtest.NewDB(t, hub.Migrations, Migrations)
	ctx := context.Background()
	a, pa := lanOnDB(t, pool)
	b, pb := lanOnDB(t, pool)
	for _, l := range []*lan{a, b} {
		l.meta(t0, "sw", "switch", "")
		l.status(t0, "sw", "online")
	}
	a.status(t0.Add(999*time.Millisecond), "sw", "offline")
	b.status(t0.Add(1001*time.Millisecond), "sw", "offline")
	ids := func() (string, string) {
		t.Helper()
		sa, sb := a.snap(t0), b.snap(t0)
		if len(sa.Incidents) != 1 || len(sb.Incidents) != 1 {
			t.Fatalf("incidents %+v and %+v, want one each", sa.Incidents, sb.Incidents)
		}
		return sa.Incidents[0].ID, sb.Incidents[0].ID
	}
	if ia, ib := ids(); ia == ib {
		t.Fatalf("the test needs two ids to start with, got %s twice", ia)
	}
	flushAll(t, pa, pb)
	open, err := queryIncidents(ctx, pool, "", true, 10)
	if err != nil || len(open) != 1 {
		t.Fatalf("%d open incidents stored (%v), want 1", len(open), err)
	}
	a.st.syncIncidents(open)
	b.st.syncIncidents(open)
	b.st.tick(t0.Add(3 * time.Second)) // a recompute keeps the adopted id
	if ia, ib := ids(); ia != ib || ia != open[0].ID {
		t.Fatalf("after the mirror: %s and %s, want both %s", ia, ib, open[0].ID)
	}
	// Back up: closed, one row in all.
	for _, l := range []*lan{a, b} {
		l.status(t0.Add(5*time.Second), "sw", "online")
	}
	flushAll(t, pa, pb)
	var rows, stillOpen int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE closed_at IS NULL) FROM incidents`).Scan(&rows, &stillOpen); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || stillOpen != 0 {
		t.Fatalf("%d incident rows, %d open; want 1 and 0", rows, stillOpen)
	}
}
