package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/communehub/communehub/hub"
)

// cpuTime is the hub process's user + system CPU time so far (the screens
// are another process; PostgreSQL's backends are not counted).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startBusy starts n processes that spin on the CPU (the tool's own "burn"
// mode), for a busy machine; the returned function stops them.
func startBusy(n int) func() {
	var cmds []*exec.Cmd
	for i := 0; i < n; i++ {
		cmd := exec.Command(os.Args[0], "burn")
		if err := cmd.Start(); err == nil {
			cmds = append(cmds, cmd)
		}
	}
	if n > 0 {
		fmt.Printf("%d spinning processes started (a busy machine)\n", len(cmds))
	}
	return func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}
}

// burn spins until killed.
func burn() {
	x := 0
	for {
		x++
	}
}

// The statements the outbox wrote per event before it folded them into one
// (steps scenario: "before").
const (
	oldInsertSQL = `
		WITH s AS (
			INSERT INTO outbox_topic_seq(topic, seq) VALUES ($1, 1)
			ON CONFLICT (topic) DO UPDATE SET seq = outbox_topic_seq.seq + 1
			RETURNING seq)
		INSERT INTO outbox(topic, topic_seq, data) SELECT $1, s.seq, $2 FROM s
		RETURNING id`
	oldNotifySQL = `SELECT pg_notify($1, $2)`
)

// steps times each step of an outbox event at o.rate: the former
// BEGIN / INSERT / pg_notify / COMMIT, the NOTIFY's delivery to a listening
// connection, the follower's SELECT by id and the bus publish; then the
// current single statement (hub.WriteEvent on the pool) and its NOTIFY,
// which carries the row.
func (s *server) steps(o benchOptions) error {
	ctx := context.Background()
	fmt.Printf("\n## steps: %d outbox writes at %d/s, each step timed\n", o.steps, o.rate)
	listen, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer listen.Release()
	const channel = "displaybench_steps"
	if _, err := listen.Exec(ctx, "LISTEN "+channel+"; LISTEN "+hub.OutboxChannel); err != nil {
		return err
	}
	defer func() { _, _ = listen.Exec(ctx, "UNLISTEN *") }()
	got := make(chan time.Time, 1)
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		for {
			if _, err := listen.Conn().WaitForNotification(lctx); err != nil {
				return
			}
			got <- time.Now()
		}
	}()
	stopBusy := startBusy(o.busy)
	defer stopBusy()
	bus := hub.NewBus(hub.BusOptions{})
	sub, _ := bus.Subscribe([]string{"bench/#"}, 64<<20)
	defer sub.Close()
	names := []string{"BEGIN", "INSERT … outbox_topic_seq", "SELECT pg_notify", "COMMIT", "NOTIFY delivery after COMMIT",
		"follower SELECT by id", "bus publish", "whole (BEGIN to bus)", "one statement (now: INSERT + notify, autocommit)", "its NOTIFY delivery", "whole (now: statement to received)"}
	h := make([]*histogram, len(names))
	for i := range h {
		h[i] = &histogram{}
	}
	data := json.RawMessage(fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", max(0, o.payload-120))))
	tick := time.NewTicker(time.Second / time.Duration(o.rate))
	defer tick.Stop()
	for i := 0; i < o.steps+100; i++ { // the first 100 warm the connections
		<-tick.C
		record := i >= 100
		mark := time.Now()
		lap := func(k int) {
			now := time.Now()
			if record {
				h[k].add(now.Sub(mark))
			}
			mark = now
		}
		start := mark
		topic := "bench/steps/" + strconv.Itoa(i%45)
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			return err
		}
		lap(0)
		var id int64
		if err := tx.QueryRow(ctx, oldInsertSQL, topic, data).Scan(&id); err != nil {
			return err
		}
		lap(1)
		if _, err := tx.Exec(ctx, oldNotifySQL, channel, strconv.FormatInt(id, 10)); err != nil {
			return err
		}
		lap(2)
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		lap(3)
		<-got
		lap(4)
		var seq int64
		var raw []byte
		var created time.Time
		if err := s.pool.QueryRow(ctx, `SELECT topic_seq, data, created_at FROM outbox WHERE id > $1 ORDER BY id LIMIT 1000`, id-1).Scan(&seq, &raw, &created); err != nil {
			return err
		}
		lap(5)
		bus.PublishEvent(&hub.Event{Topic: topic, Seq: uint64(seq), Time: created, Data: raw})
		lap(6)
		if record {
			h[7].add(time.Since(start))
		}
		sub.Drain()

		start = time.Now()
		if err := hub.WriteEvent(ctx, s.pool, topic, data); err != nil {
			return err
		}
		done := time.Now()
		at := <-got
		if record {
			h[8].add(done.Sub(start))
			h[9].add(at.Sub(done))
			h[10].add(at.Sub(start))
		}
	}
	fmt.Printf("| step | p50 ms | p99 ms | p99.9 ms | max ms |\n|---|---|---|---|---|\n")
	for i, n := range names {
		fmt.Printf("| %s | %.2f | %.2f | %.2f | %.2f |\n", n, h[i].quantile(0.5), h[i].quantile(0.99), h[i].quantile(0.999), float64(h[i].max.Load())/1e6)
	}
	return nil
}
