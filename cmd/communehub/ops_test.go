package main

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub/hubtest"
)

// With COMMUNEHUB_METRICS_TOKEN, /metrics wants the bearer token.
func TestMetricsToken(t *testing.T) {
	t.Parallel()
	_, dbURL := hubtest.NewDB(t, migrationSets()...)
	const token = "metrics-7f3a9c1e5b2d"
	p := startHub(t, dbURL, map[string]string{"COMMUNEHUB_METRICS_TOKEN": token})
	for _, auth := range []string{"", "Bearer wrong-token-123456", "Basic " + token, token} {
		code, _ := p.get(t, "/metrics", "Authorization", auth)
		if code != 401 {
			t.Errorf("/metrics with Authorization %q = %d, want 401", auth, code)
		}
	}
	code, body := p.get(t, "/metrics", "Authorization", "Bearer "+token)
	if code != 200 || !strings.Contains(body, "communehub_listener_connections") {
		t.Errorf("/metrics with the token = %d (%d bytes), want 200 with the metrics", code, len(body))
	}
	if code, _ := p.get(t, "/healthz"); code != 200 {
		t.Errorf("/healthz = %d: the token must guard only /metrics", code)
	}
}

// With COMMUNEHUB_METRICS_ADDR, the operations endpoints have their own
// port and /metrics leaves the main one.
func TestMetricsOnTheirOwnAddress(t *testing.T) {
	t.Parallel()
	_, dbURL := hubtest.NewDB(t, migrationSets()...)
	opsAddr := fmt.Sprintf("127.0.0.1:%d", hubtest.FreePort(t))
	p := startHub(t, dbURL, map[string]string{"COMMUNEHUB_METRICS_ADDR": opsAddr})
	if code, _ := p.get(t, "/metrics"); code != 404 {
		t.Errorf("main port /metrics = %d, want 404", code)
	}
	if code, _ := p.get(t, "/healthz"); code != 200 {
		t.Errorf("main port /healthz = %d", code)
	}
	ops := "http://" + opsAddr
	code, body := httpGet(t, ops+"/metrics")
	if code != 200 || !strings.Contains(body, "communehub_http_requests_total") {
		t.Errorf("operations port /metrics = %d, want 200 with the metrics", code)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := httpGet(t, ops+path); code != 200 {
			t.Errorf("operations port %s = %d %s", path, code, body)
		}
	}
	if code, _ := httpGet(t, ops+"/api/v1/me"); code != 404 {
		t.Errorf("operations port /api/v1/me = %d, want 404: it serves only the operations endpoints", code)
	}
}

// The embedded broker's port is guarded too: over COMMUNEHUB_MQTT_MAX_CONNS
// a connection is closed at accept and counted.
func TestMQTTConnectionCap(t *testing.T) {
	t.Parallel()
	_, dbURL := hubtest.NewDB(t, migrationSets()...)
	mqttAddr := fmt.Sprintf("127.0.0.1:%d", hubtest.FreePort(t))
	p := startHub(t, dbURL, map[string]string{"COMMUNEHUB_MQTT_LISTEN": mqttAddr, "COMMUNEHUB_MQTT_MAX_CONNS": "1"})
	held, err := net.Dial("tcp", mqttAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	hubtest.WaitFor(t, 10*time.Second, func() bool {
		_, body := p.get(t, "/metrics")
		return strings.Contains(body, `communehub_listener_connections{listener="mqtt"} 1`)
	}, "the first MQTT connection to be counted open")
	if err := mqttConnack(mqttAddr, hubtest.Timeout(2*time.Second)); err == nil {
		t.Fatal("a second MQTT connection got a CONNACK over a cap of 1")
	}
	_, body := p.get(t, "/metrics")
	if !strings.Contains(body, `communehub_listener_refused_total{listener="mqtt",reason="max_conns"} 1`) {
		t.Errorf("refusal not counted:\n%s", grepLines(body, "communehub_listener"))
	}
	held.Close()
	hubtest.WaitFor(t, 10*time.Second, func() bool { return mqttConnack(mqttAddr, hubtest.Timeout(2*time.Second)) == nil },
		"a CONNACK once the first connection closed")
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
