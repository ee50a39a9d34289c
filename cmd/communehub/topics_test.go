package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
	"github.com/fasthttp/websocket"
)

// Every topic the demo hub publishes — its seeds, the simulated devices
// and dossiers, the meetings and walls — is one a feature declared: the
// bus counts none outside the declarations and logs none.
func TestDemoPublishesOnlyDeclaredTopics(t *testing.T) {
	hubtest.SkipShort(t, "seeds the demo data")
	t.Parallel()
	_, dbURL := hubtest.NewDB(t)
	p := startHub(t, dbURL, map[string]string{"COMMUNEHUB_MQTT_LISTEN": ""}, "--demo")
	admin := apiToken(t, dbURL, "topics-test", hub.RoleAdmin)
	c, _, err := websocket.DefaultDialer.Dial("ws://"+p.Addr+"/ws?topic=%23&access_token="+admin, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Until the simulators have published on each live family.
	want := map[string]string{"kpi": "commune/+/kpi", "backlog": "commune/+/backlog",
		"province_kpi": "province/+/kpi", "devices": "commune/+/devices"}
	seen := map[string]bool{}
	wait := hubtest.Timeout(90 * time.Second)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	for len(seen) < len(want) {
		_, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("event socket, having seen %v of %d families: %v", seen, len(want), err)
		}
		var ev struct{ Type, Topic string }
		_ = json.Unmarshal(msg, &ev)
		for kind, pattern := range want {
			if ev.Type == "event" && hub.Match(pattern, ev.Topic) {
				seen[kind] = true
			}
		}
	}
	_, metrics := p.get(t, "/metrics")
	m := regexp.MustCompile(`(?m)^communehub_bus_undeclared_total (\S+)$`).FindStringSubmatch(metrics)
	if m == nil {
		t.Fatalf("no communehub_bus_undeclared_total in /metrics")
	}
	if m[1] != "0" {
		t.Errorf("communehub_bus_undeclared_total = %s, want 0", m[1])
	}
	for _, line := range strings.Split(p.Stderr.String(), "\n") {
		if strings.Contains(line, "no feature declared") {
			t.Errorf("undeclared topic: %s", line)
		}
	}
}
