package devices

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// Values are stored rounded to MetricDecimals: derived ones (100 − 96.8 is
// 3.200000000000003 in float64) and noisy ones a sender computed.
func TestTelemetryRoundedToPrecision(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	tele := topicInfo{kind: kindTelemetry, unit: "03244", device: "router-1"}
	tg := topicInfo{kind: kindTelegraf, unit: "03244", device: "pc-office"}
	cases := []struct {
		ti           topicInfo
		payload, key string
		want         float64
		wantJSON     string
	}{
		{tele, `{"metrics":{"latency_ms":3.2000000000000006}}`, "latency_ms", 3.2, `"latency_ms":3.2`},
		{tg, fmt.Sprintf(`{"name":"cpu","fields":{"usage_idle":96.8},"tags":{"cpu":"cpu-total","host":"pc-office"},"timestamp":%d}`, now.Unix()),
			"cpu_pct", 3.2, `"cpu_pct":3.2`},
		{tele, `{"metrics":{"bytes_in":123456789012.5}}`, "bytes_in", 123456789012.5, `"bytes_in":1.234567890125e+11`},
		{tele, `{"metrics":{"x":0.0000004}}`, "x", 0, `"x":0`},
	}
	for _, c := range cases {
		samples, reason := parseTelemetry([]byte(c.payload), c.ti, now, time.Hour)
		if reason != "" || len(samples) != 1 {
			t.Fatalf("%s: %q %v", c.payload, reason, samples)
		}
		if got := samples[0].metrics[c.key]; got != c.want {
			t.Errorf("%s: %s = %v, want %v", c.payload, c.key, got, c.want)
		}
		if js := string(appendMetricsJSON(nil, map[string]float64{c.key: samples[0].metrics[c.key]})); !strings.Contains(js, c.wantJSON) {
			t.Errorf("%s: stored as %s, want %s", c.payload, js, c.wantJSON)
		}
	}
}

// The API serves rounded values: the device's last metrics and a series'
// averages (the mean of 0.1 and 0.2 is 0.15000000000000002 in float64).
func TestAPIServesRoundedMetrics(t *testing.T) {
	t.Parallel()
	a := newAPIHarness(t, Config{AllowAnonymous: true})
	c, err := mqttClient(t, a.broker, "", "")
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Now().Add(-2 * time.Minute).Truncate(time.Minute)
	for i, v := range []string{"0.1", "0.2", "3.2000000000000006"} {
		p := fmt.Sprintf(`{"ts":%d,"metrics":{"latency_ms":%s}}`, ts.Add(time.Duration(i)*time.Second).UnixMilli(), v)
		if i == 2 {
			p = `{"metrics":{"latency_ms":3.2000000000000006}}`
		}
		if err := publish(t, c, "communehub/03244/router-1/telemetry", p); err != nil {
			t.Fatal(err)
		}
	}
	var dev map[string]any
	hubtest.WaitFor(t, 5*time.Second, func() bool {
		_, dev = a.do(t, hub.RoleViewer, "GET", "/api/v1/devices/03244/router-1", "")
		m, _ := dev["metrics"].(map[string]any)
		return m["latency_ms"] != nil && m["latency_ms"] != 0.2 && m["latency_ms"] != 0.1
	}, "the last latency")
	if got := dev["metrics"].(map[string]any)["latency_ms"]; got != 3.2 {
		t.Errorf("device latency_ms = %v, want 3.2", got)
	}
	path := fmt.Sprintf("/api/v1/devices/03244/router-1/telemetry?metric=latency_ms&from=%d&to=%d&step=1m",
		ts.UnixMilli(), ts.Add(time.Minute).UnixMilli())
	var pts []any
	hubtest.WaitFor(t, 10*time.Second, func() bool {
		_, m := a.do(t, hub.RoleViewer, "GET", path, "")
		pts, _ = m["points"].([]any)
		return len(pts) == 1 && pts[0].(map[string]any)["n"] == float64(2)
	}, "the two stored samples")
	if p := pts[0].(map[string]any); p["avg"] != 0.15 || p["min"] != 0.1 || p["max"] != 0.2 {
		t.Errorf("point %v, want avg 0.15 min 0.1 max 0.2", p)
	}
}
