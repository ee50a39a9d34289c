package devices

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// BenchmarkSharingRound is one instance's once-a-second round with 5,000
// devices reporting every 10 s split between two instances: it writes the
// 250 devices it heard from and reads the 250 the other wrote (and the
// registrations and active alarms). The cost of keeping two instances'
// views equal is this per second, whatever the telemetry rate.
func BenchmarkSharingRound(b *testing.B) {
	pool, _ := hubtest.NewDB(b, hub.Migrations, Migrations)
	ctx := context.Background()
	mine, other := newState(StateConfig{}, nil, t0), newState(StateConfig{}, nil, t0)
	mine.shareSeen()
	other.shareSeen()
	me := &seenShare{pool: pool, st: mine, instance: "a-1"}
	peer := &seenShare{pool: pool, st: other, instance: "b-1"}
	const devicesTotal, perRound = 5000, 250
	at := t0
	heard := func(st *state, from int) {
		for i := range perRound {
			n := (from + i) % devicesTotal
			st.apply(&message{kind: kindTelemetry, unit: "0" + strconv.Itoa(3000+n%45), device: "d" + strconv.Itoa(n), received: at,
				samples: []sample{{ts: at, source: "native", metrics: map[string]float64{"latency_ms": 3, "loss_pct": 0}}}})
		}
	}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		at = at.Add(time.Second)
		heard(mine, 2*perRound*i)
		heard(other, 2*perRound*i+perRound)
		if err := peer.round(ctx, at); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := me.round(ctx, at); err != nil {
			b.Fatal(err)
		}
	}
}
