package devices

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/communehub/communehub/devices/devicesim"
	"github.com/communehub/communehub/hub/hubtest"
)

// The simulator's scenario, run against the embedded broker, shows up on
// the bus as the incidents a technician should see: one parent-down
// incident for the failed access switch and a power cut with UPS minutes.
func TestSimulatedLANScenario(t *testing.T) {
	hubtest.SkipShort(t, "a simulated LAN's scenario")
	t.Parallel()
	pool := seededDB(t)
	h := startTestHub(t, pool, Config{AllowAnonymous: true, Interval: 300 * time.Millisecond, PublishGap: 20 * time.Millisecond})
	sub, err := h.bus.Subscribe([]string{"commune/+/devices"}, 8<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	sim := devicesim.New(devicesim.Config{Broker: h.broker, Communes: []string{"03244"}, PCs: 4,
		Interval: 300 * time.Millisecond, Scenario: true, Period: 10 * time.Second, Seed: 1})
	ctx, cancel := context.WithCancel(context.Background())
	simDone := make(chan struct{})
	go func() { _ = sim.Run(ctx); close(simDone) }()
	defer func() { cancel(); <-simDone }()

	var sawParent, sawPower, sawAllOnline bool
	deadline := time.After(hubtest.Timeout(20 * time.Second))
	for !(sawParent && sawPower && sawAllOnline) {
		select {
		case <-sub.Ready():
			for _, ev := range sub.Drain() {
				var s Snapshot
				if err := json.Unmarshal(ev.Data, &s); err != nil {
					t.Fatal(err)
				}
				if s.Counts.Online == len(sim.Devices) {
					sawAllOnline = true
				}
				for _, inc := range s.Incidents {
					switch {
					case inc.Kind == IncidentParentDown && inc.RootDevice == "sw-floor2" && inc.Affected >= 4:
						if !sawParent {
							t.Logf("parent failure: %s", inc.TitleEN)
						}
						sawParent = true
					case inc.Kind == IncidentPowerCut && inc.UPSMinutes != nil && inc.Affected > 0:
						if !sawPower {
							t.Logf("power cut: %s", inc.TitleEN)
						}
						sawPower = true
					}
				}
			}
		case <-deadline:
			t.Fatalf("scenario not seen: all online %v, parent down %v, power cut %v", sawAllOnline, sawParent, sawPower)
		}
	}
	if sim.Sent() == 0 {
		t.Fatal("no telemetry acknowledged")
	}
	hubtest.WaitFor(t, 2*time.Second, func() bool { return h.count(t, "unit='03244'") > 0 }, "telemetry stored")
}
