package hub_test

import (
	"context"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// Rows past the retention are deleted, in batches, except each topic's
// newest however old; sequence numbers go on after a prune, and an
// instance starting afterwards still gets every topic's current value.
func TestOutboxPruneKeepsEachTopicsNewest(t *testing.T) {
	t.Parallel()
	pool, _ := hubtest.NewDB(t, hub.Migrations)
	ctx := context.Background()
	writeEvents(t, pool, "t/busy", 4)  // 3 old + 1 recent below
	writeEvents(t, pool, "t/quiet", 2) // both old: the newest stays
	writeEvents(t, pool, "t/once", 1)  // old, alone: stays
	// A long backlog on one more topic, more than one DELETE's batch.
	if _, err := pool.Exec(ctx, `
		INSERT INTO outbox (topic, topic_seq, data, created_at)
		SELECT 't/backlog', s, '{}'::jsonb, now() - interval '3 days' FROM generate_series(1, 12001) s`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO outbox_topic_seq (topic, seq) VALUES ('t/backlog', 12001)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE outbox SET created_at = now() - interval '2 days'
		WHERE topic IN ('t/quiet', 't/once') OR (topic = 't/busy' AND topic_seq < 4)`); err != nil {
		t.Fatal(err)
	}
	n, err := hub.PruneOutbox(ctx, pool, time.Now().Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(3 + 1 + 12000); n != want {
		t.Errorf("deleted %d rows, want %d", n, want)
	}
	left := map[string][]int64{}
	rows, err := pool.Query(ctx, `SELECT topic, topic_seq FROM outbox ORDER BY topic, topic_seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var topic string
		var seq int64
		if err := rows.Scan(&topic, &seq); err != nil {
			t.Fatal(err)
		}
		left[topic] = append(left[topic], seq)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"t/busy": 4, "t/quiet": 2, "t/once": 1, "t/backlog": 12001}
	for topic, seq := range want {
		if got := left[topic]; len(got) != 1 || got[0] != seq {
			t.Errorf("%s: rows left %v, want only seq %d", topic, got, seq)
		}
	}
	// A second round finds nothing more.
	if n, err := hub.PruneOutbox(ctx, pool, time.Now().Add(-24*time.Hour)); err != nil || n != 0 {
		t.Errorf("second round: deleted %d, err %v", n, err)
	}
	writeEvents(t, pool, "t/quiet", 1)
	var seq int64
	if err := pool.QueryRow(ctx, `SELECT max(topic_seq) FROM outbox WHERE topic = 't/quiet'`).Scan(&seq); err != nil || seq != 3 {
		t.Errorf("after a prune the next seq is %d (err %v), want 3", seq, err)
	}
	bus := startFollower(t, pool)
	hubtest.WaitFor(t, 3*time.Second, func() bool {
		return bus.Seq("t/busy") == 4 && bus.Seq("t/quiet") == 3 && bus.Seq("t/once") == 1 && bus.Seq("t/backlog") == 12001
	}, "a starting instance primed with every topic's newest")
}
