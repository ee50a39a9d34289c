package devices

import (
	"log/slog"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
)

// A restarted hub's device topics go on from above the seqs it had, with
// no gap between its own events (so the bus can replay them), instead of
// starting again from 1 (1153 → 35 was seen).
func TestDeviceTopicSeqGoesOnAcrossRestarts(t *testing.T) {
	const topic = "commune/03244/devices"
	run := func(start time.Time, events int) (first, last uint64) {
		bus := hub.NewBus(hub.BusOptions{})
		s := &Service{bus: bus, log: slog.New(slog.DiscardHandler), seqs: newTopicSeqs(start),
			st: newState(StateConfig{}, nil, start)}
		for i := range events {
			s.publish("03244", start.Add(time.Duration(i)*time.Millisecond))
			if i == 0 {
				first = bus.Seq(topic)
			}
		}
		last = bus.Seq(topic)
		if last-first != uint64(events-1) {
			t.Fatalf("%d events from seq %d to %d: not one apart", events, first, last)
		}
		if evs, ok := bus.Since(topic, last-10); !ok || len(evs) != 10 {
			t.Fatalf("replay of the last 10 events: %d events, ok %v", len(evs), ok)
		}
		return first, last
	}
	start := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	_, before := run(start, 1153)
	// Restarted 2 s later, after 1,153 events: far fewer than ten per millisecond.
	after, _ := run(start.Add(2*time.Second), 35)
	if after <= before {
		t.Fatalf("after the restart the seq is %d, not above the %d before it", after, before)
	}
}
