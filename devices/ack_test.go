package devices

import (
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/communehub/communehub/hub/hubtest"
)

// A message someone subscribes to, or a retained one, takes mochi's normal
// path after the spool's fsync: it is forwarded (or retained) and
// acknowledged, and stored once.
func TestEmbeddedBrokerForwardsAndRetainsSpooledMessages(t *testing.T) {
	t.Parallel()
	pool := seededDB(t)
	h := startTestHub(t, pool, Config{AllowAnonymous: true, SpoolDir: t.TempDir()})
	got := make(chan string, 16)
	sub, err := mqttClient(t, h.broker, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if tok := sub.Subscribe("communehub/03244/+/telemetry", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(hubtest.Timeout(5*time.Second)) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	pub, err := mqttClient(t, h.broker, "", "")
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Now().Add(-time.Minute).UnixMilli()
	payload := fmt.Sprintf(`{"ts":%d,"metrics":{"latency_ms":4}}`, ts)
	if err := publish(t, pub, "communehub/03244/sw-1/telemetry", payload); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p != payload {
			t.Fatalf("forwarded %q", p)
		}
	case <-time.After(hubtest.Timeout(5 * time.Second)):
		t.Fatal("a subscriber did not get the telemetry")
	}
	hubtest.WaitFor(t, 5*time.Second, func() bool { return h.count(t, "device='sw-1'") == 1 }, "the row stored")

	// Retained telemetry is kept by the broker for later subscribers.
	if tok := pub.Publish("communehub/03244/sw-2/telemetry", 1, true, payload); !tok.WaitTimeout(hubtest.Timeout(5*time.Second)) || tok.Error() != nil {
		t.Fatalf("retained publish: %v", tok.Error())
	}
	late := make(chan string, 1)
	sub2, err := mqttClient(t, h.broker, "", "")
	if err != nil {
		t.Fatal(err)
	}
	sub2.Subscribe("communehub/03244/sw-2/telemetry", 1, func(_ paho.Client, m paho.Message) { late <- string(m.Payload()) })
	select {
	case <-late:
	case <-time.After(hubtest.Timeout(5 * time.Second)):
		t.Fatal("retained telemetry not kept")
	}
	hubtest.WaitFor(t, 5*time.Second, func() bool { return h.count(t, "device='sw-2'") == 1 }, "the retained row stored")
}
