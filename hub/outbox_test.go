package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	dto "github.com/prometheus/client_model/go"
)

func writeEvents(t *testing.T, pool *pgxpool.Pool, topic string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
			return hub.WriteEvent(context.Background(), tx, topic, map[string]int{"i": i})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func startFollower(t *testing.T, pool *pgxpool.Pool) *hub.Bus {
	t.Helper()
	return startFollowerMetrics(t, pool, nil)
}

// startFollowerMetrics starts a follower that counts into m (nil: none).
func startFollowerMetrics(t *testing.T, pool *pgxpool.Pool, m *hub.Metrics) *hub.Bus {
	t.Helper()
	bus := hub.NewBus(hub.BusOptions{})
	f := hub.NewOutboxFollower(pool, bus, slog.New(slog.DiscardHandler), m)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return bus
}

// waitFollowing returns once each bus's follower has LISTENed: it publishes
// an event written after the wait began, and a follower LISTENs before it
// first reads the outbox.
func waitFollowing(t *testing.T, pool *pgxpool.Pool, buses ...*hub.Bus) {
	t.Helper()
	var subs []*hub.Subscription
	for _, b := range buses {
		s, _ := b.Subscribe([]string{"test/following"}, 0)
		subs = append(subs, s)
	}
	writeEvents(t, pool, "test/following", 1)
	for _, s := range subs {
		select {
		case <-s.Ready():
			s.Close()
		case <-time.After(hubtest.Timeout(5 * time.Second)):
			t.Fatal("a follower did not publish an outbox event within 5 s")
		}
	}
}

// Two followers on one database (two hub instances) publish the same events
// with the same sequence numbers, in order, whoever wrote them.
func TestOutboxReachesEveryInstanceInOrder(t *testing.T) {
	t.Parallel()
	pool, _ := hubtest.NewDB(t, hub.Migrations)
	busA, busB := startFollower(t, pool), startFollower(t, pool)
	subA, _ := busA.Subscribe([]string{"commune/+/kpi"}, 0)
	subB, _ := busB.Subscribe([]string{"commune/+/kpi"}, 0)
	waitFollowing(t, pool, busA, busB)

	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			writeEvents(t, pool, fmt.Sprintf("commune/0000%d/kpi", w), 25)
		}()
	}
	wg.Wait()
	for name, sub := range map[string]*hub.Subscription{"A": subA, "B": subB} {
		seqs := map[string][]uint64{}
		deadline := time.After(hubtest.Timeout(5 * time.Second))
		for total := 0; total < 100; {
			select {
			case <-sub.Ready():
				for _, ev := range sub.Drain() {
					seqs[ev.Topic] = append(seqs[ev.Topic], ev.Seq)
					var d struct{ I int }
					if err := json.Unmarshal(ev.Data, &d); err != nil || uint64(d.I+1) != ev.Seq {
						t.Errorf("%s: %s seq %d carries %s", name, ev.Topic, ev.Seq, ev.Data)
					}
					total++
				}
			case <-deadline:
				t.Fatalf("instance %s got %d of 100 events", name, total)
			}
		}
		for topic, s := range seqs {
			for i, seq := range s {
				if seq != uint64(i+1) {
					t.Fatalf("instance %s topic %s: seq %v not 1..25 in order", name, topic, s)
				}
			}
		}
	}
}

// A rolled-back change leaves no event; the next committed one still arrives.
func TestOutboxRollbackPublishesNothing(t *testing.T) {
	t.Parallel()
	pool, _ := hubtest.NewDB(t, hub.Migrations)
	bus := startFollower(t, pool)
	sub, _ := bus.Subscribe([]string{"t/x"}, 0)
	ctx := context.Background()
	_ = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := hub.WriteEvent(ctx, tx, "t/x", "rolled back"); err != nil {
			t.Fatal(err)
		}
		return fmt.Errorf("abort")
	})
	writeEvents(t, pool, "t/x", 1)
	select {
	case <-sub.Ready():
		evs := sub.Drain()
		if len(evs) != 1 || string(evs[0].Data) != `{"i": 0}` || evs[0].Seq != 1 {
			t.Fatalf("got %d events, first %s#%d %s", len(evs), evs[0].Topic, evs[0].Seq, evs[0].Data)
		}
	case <-time.After(hubtest.Timeout(3 * time.Second)):
		t.Fatal("committed event not published")
	}
}

// An instance that starts after events were written gets each topic's latest
// value (for snapshots) without a replay of history.
func TestOutboxPrimesLatestOnStart(t *testing.T) {
	t.Parallel()
	pool, _ := hubtest.NewDB(t, hub.Migrations)
	writeEvents(t, pool, "commune/03244/kpi", 3)
	bus := startFollower(t, pool)
	hubtest.WaitFor(t, 3*time.Second, func() bool { return bus.Seq("commune/03244/kpi") == 3 }, "latest event primed")
	if ev := bus.Latest("commune/03244/kpi"); string(ev.Data) != `{"i": 2}` {
		t.Errorf("latest = %s", ev.Data)
	}
}

func TestWriteEventRejectsBadTopic(t *testing.T) {
	t.Parallel()
	pool, _ := hubtest.NewDB(t, hub.Migrations)
	err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		return hub.WriteEvent(context.Background(), tx, "no spaces/allowed here", 1)
	})
	if err == nil {
		t.Fatal("bad topic accepted")
	}
}

// Rows after a hole in ids (a rolled-back writer) are published at once,
// even more than one page of them, without waiting for the hole to expire.
func TestOutboxPagesPastAHole(t *testing.T) {
	t.Parallel()
	pool, _ := hubtest.NewDB(t, hub.Migrations)
	bus := startFollower(t, pool)
	sub, _ := bus.Subscribe([]string{"t/+"}, 64<<20)
	ctx := context.Background()
	_ = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_ = hub.WriteEvent(ctx, tx, "t/hole", 0)
		return fmt.Errorf("roll back: leave a hole in the ids")
	})
	const n = 1200
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for i := 0; i < n; i++ {
			if err := hub.WriteEvent(ctx, tx, fmt.Sprintf("t/%d", i%3), i); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	deadline := time.After(hubtest.Timeout(5 * time.Second)) // the hole's expiry is 10 s
	for got < n {
		select {
		case <-sub.Ready():
			got += len(sub.Drain())
		case <-deadline:
			t.Fatalf("%d of %d events after a hole published within 5s", got, n)
		}
	}
}

// A writer that took its id before a follower started, and commits after
// the follower primed, is still followed.
func TestOutboxFollowsWriterInFlightAtStart(t *testing.T) {
	t.Parallel()
	pool, _ := hubtest.NewDB(t, hub.Migrations)
	ctx := context.Background()
	slow, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(ctx)
	if err := hub.WriteEvent(ctx, slow, "t/slow", "late"); err != nil {
		t.Fatal(err)
	}
	writeEvents(t, pool, "t/fast", 1) // a larger id, committed first
	bus := startFollower(t, pool)
	hubtest.WaitFor(t, 3*time.Second, func() bool { return bus.Seq("t/fast") == 1 }, "primed")
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	hubtest.WaitFor(t, 5*time.Second, func() bool { return bus.Seq("t/slow") == 1 }, "the in-flight writer's event followed")
}

// A transaction that took an id and stays open (a hole in the ids) does not
// make the follower read the table again for every later event: rows come
// with their notification, so the follower is never behind a slow writer.
// Before, each notification re-read every row after the hole.
func TestOutboxFollowerNotBehindASlowTransaction(t *testing.T) {
	t.Parallel()
	pool, _ := hubtest.NewDB(t, hub.Migrations)
	m := hub.NewMetrics()
	bus := startFollowerMetrics(t, pool, m)
	waitFollowing(t, pool, bus)

	slow, err := pool.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(context.Background())
	if err := hub.WriteEvent(context.Background(), slow, "t/slow", "late"); err != nil {
		t.Fatal(err)
	}
	before := followed(m)
	const n = 400
	for i := 0; i < n; i++ {
		if err := hub.WriteEvent(context.Background(), pool, "t/fast", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	hubtest.WaitFor(t, 10*time.Second, func() bool { return bus.Seq("t/fast") == n }, "every event after the hole published")
	// Each row once from its notification, plus one read of the table per
	// poll period (a second) while the hole is open; re-reading after every
	// notification costs n²/2 = 80,000 rows.
	if read := followed(m) - before; read > 10*n {
		t.Errorf("the follower handled %.0f rows for %d events behind an open transaction", read, n)
	}
	if err := slow.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	hubtest.WaitFor(t, 5*time.Second, func() bool { return bus.Seq("t/slow") == 1 }, "the slow writer's event published")
}

// Events too large for a NOTIFY payload are notified by id and read from
// the table; mixed with small ones (notified with their row) on one topic,
// both instances publish them all, in sequence order, with the same data.
func TestOutboxLargeEventsKeepOrder(t *testing.T) {
	t.Parallel()
	pool, _ := hubtest.NewDB(t, hub.Migrations)
	busA, busB := startFollower(t, pool), startFollower(t, pool)
	subA, _ := busA.Subscribe([]string{"t/mixed"}, 64<<20)
	subB, _ := busB.Subscribe([]string{"t/mixed"}, 64<<20)
	waitFollowing(t, pool, busA, busB)
	const n = 60
	big := strings.Repeat("x", 10_000)
	for i := 0; i < n; i++ {
		pad := ""
		if i%3 == 0 {
			pad = big
		}
		if err := hub.WriteEvent(context.Background(), pool, "t/mixed", map[string]any{"i": i, "pad": pad}); err != nil {
			t.Fatal(err)
		}
	}
	for name, sub := range map[string]*hub.Subscription{"A": subA, "B": subB} {
		deadline := time.After(hubtest.Timeout(5 * time.Second))
		for got := 0; got < n; {
			select {
			case <-sub.Ready():
				for _, ev := range sub.Drain() {
					var d struct {
						I   int
						Pad string
					}
					if err := json.Unmarshal(ev.Data, &d); err != nil || ev.Seq != uint64(got+1) || d.I != got || (got%3 == 0) != (d.Pad == big) {
						t.Fatalf("instance %s: event %d arrived as seq %d, i %d, %d bytes of pad", name, got, ev.Seq, d.I, len(d.Pad))
					}
					got++
				}
			case <-deadline:
				t.Fatalf("instance %s got %d of %d events", name, got, n)
			}
		}
	}
}

func followed(m *hub.Metrics) float64 {
	var pm dto.Metric
	_ = m.OutboxFollowed.Write(&pm)
	return pm.GetCounter().GetValue()
}
