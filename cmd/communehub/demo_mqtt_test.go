package main

import (
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub/hubtest"
)

// --demo without --mqtt-url or --mqtt-listen runs its own embedded broker on
// a free port, whatever answers on 127.0.0.1:1883, says so in the log and
// prints the address; the demo's simulated devices reach it, and so does
// mosquitto_sub at the printed address.
//
// Not parallel: a demo hub seeds a year of dossiers (~20 s under -race on
// a loaded machine), and two at once would not be ready within startHub's
// 30 s.
func TestDemoRunsItsOwnBrokerOnAFreePort(t *testing.T) {
	sub, err := exec.LookPath("mosquitto_sub")
	if err != nil {
		t.Skip("needs mosquitto_sub (apt-get install mosquitto-clients)")
	}
	_, dbURL := hubtest.NewDB(t)
	p := startHub(t, dbURL, map[string]string{"COMMUNEHUB_MQTT_LISTEN": ""}, "--demo")
	m := regexp.MustCompile(`Demo MQTT broker \(embedded, anonymous clients allowed\): (\S+)`).FindStringSubmatch(p.Stdout.String())
	if m == nil {
		t.Fatalf("no demo broker address printed:\n%s\nlog:\n%s", p.Stdout, p.Stderr)
	}
	host, port, err := net.SplitHostPort(m[1])
	if err != nil || port == "1883" || port == "0" {
		t.Fatalf("demo broker at %q", m[1])
	}
	if !strings.Contains(p.Stdout.String(), "mosquitto_pub -h "+host+" -p "+port) {
		t.Errorf("no mosquitto_pub line for %s:\n%s", m[1], p.Stdout)
	}
	if !strings.Contains(p.Stderr.String(), "demo: the embedded MQTT broker runs on a free port") {
		t.Errorf("the log does not say which broker the demo uses:\n%s", p.Stderr)
	}
	// The simulator's devices publish their retained status there.
	cmd := exec.Command(sub, "-h", host, "-p", port, "-t", "communehub/03244/+/status", "-C", "1", "-W",
		strings.TrimSuffix(hubtest.Timeout(20*time.Second).Round(time.Second).String(), "s"), "-v")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "communehub/03244/") {
		t.Fatalf("mosquitto_sub at the printed address: %v %s", err, out)
	}
}

// An explicit --mqtt-url or --mqtt-listen (flag or environment) keeps the
// demo on the broker it names; outside demo nothing changes.
func TestDemoBrokerListenUnlessToldOtherwise(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--demo"}, nil, DemoBrokerListen},
		{[]string{"--demo", "--mqtt-listen", "127.0.0.1:1884"}, nil, "127.0.0.1:1884"},
		{[]string{"--demo"}, map[string]string{"COMMUNEHUB_MQTT_LISTEN": "127.0.0.1:1883"}, "127.0.0.1:1883"},
		{[]string{"--demo", "--mqtt-url", "tcp://broker:1883"}, nil, "127.0.0.1:1883"},
		{nil, nil, "127.0.0.1:1883"},
	}
	for _, c := range cases {
		cfg, _, err := ParseConfig(c.args, env(c.env))
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.mqttListen(); got != c.want {
			t.Errorf("%v %v: listen %q, want %q", c.args, c.env, got, c.want)
		}
	}
}
