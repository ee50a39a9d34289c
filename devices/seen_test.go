package devices

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// lanOnDB is one hub instance's state writing to pool, for the tests of
// several instances on one database.
func lanOnDB(t *testing.T, pool *pgxpool.Pool) (*lan, *persister) {
	p := newPersister(pool, slog.New(slog.DiscardHandler))
	return &lan{t: t, st: newState(StateConfig{}, p, t0.Add(-time.Hour))}, p
}

// flushAll writes what the persisters hold.
func flushAll(t *testing.T, ps ...*persister) {
	t.Helper()
	for _, p := range ps {
		if err := p.flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// Sightings shared by another instance keep a device alive that this
// instance never hears from, and applying them again (the reader reads
// one round twice) or applying an older one changes nothing.
func TestSightingsFromAnotherInstance(t *testing.T) {
	a, b := newLAN(t), newLAN(t)
	a.st.shareSeen()
	b.meta(t0, "ap", "ap", "")
	a.meta(t0, "ap", "ap", "")
	// Only a receives the AP's telemetry, for two minutes.
	var rows []seenRow
	for i := 1; i <= 12; i++ {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		a.tele(at, "ap", map[string]float64{"latency_ms": float64(i)})
		rows = a.st.takeSeen()
		if len(rows) != 1 || !rows[0].LastSeen.Equal(at) {
			t.Fatalf("round %d: shared %+v", i, rows)
		}
		b.st.applySeen(rows, at)
		b.st.tick(at)
	}
	end := t0.Add(2 * time.Minute)
	if got := b.statusOf("ap"); got != StatusOnline {
		t.Fatalf("b, which only had a's sightings: %s, want online", got)
	}
	if v, _ := b.st.get("03244", "ap"); v.Metrics["latency_ms"] != 12 || !v.LastSeen.Equal(end) {
		t.Fatalf("b shows %v at %v", v.Metrics, v.LastSeen)
	}
	old := seenRow{Unit: "03244", Device: "ap", LastSeen: t0.Add(time.Minute), Metrics: map[string]float64{"latency_ms": 6}}
	b.st.applySeen(append(rows, old), end)
	if v, _ := b.st.get("03244", "ap"); v.Metrics["latency_ms"] != 12 || !v.LastSeen.Equal(end) {
		t.Fatalf("after a repeat and an older row b shows %v at %v", v.Metrics, v.LastSeen)
	}
	if len(a.st.takeSeen()) != 0 {
		t.Fatal("nothing new was heard: nothing to share")
	}
	// Without the sightings b would have timed it out.
	b.st.tick(end.Add(31 * time.Second))
	if got := b.statusOf("ap"); got != StatusOffline {
		t.Fatalf("b after 3 silent intervals: %s, want offline", got)
	}
}
