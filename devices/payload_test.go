package devices

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseTopic(t *testing.T) {
	cases := []struct {
		topic, reason string
		kind          msgKind
		unit, device  string
	}{
		{"communehub/03244/router-1/telemetry", "", kindTelemetry, "03244", "router-1"},
		{"communehub/03244/router-1/status", "", kindStatus, "03244", "router-1"},
		{"communehub/03244/sw.core_2/meta", "", kindMeta, "03244", "sw.core_2"},
		{"telegraf/03244/pc-office/ping", "", kindTelegraf, "03244", "pc-office"},
		{"telegraf/03244/pc-office", "", kindTelegraf, "03244", "pc-office"},
		{"telegraf/03244", "topic_depth", 0, "", ""},
		{SysDroppedTopic, "", kindSysDropped, "", ""},
		{"communehub/03244/router-1", "topic_depth", 0, "", ""},
		{"communehub/03244/router-1/telemetry/extra", "topic_depth", 0, "", ""},
		{"communehub/3244/router-1/telemetry", "bad_id", 0, "", ""},
		{"communehub/03244/rou ter/telemetry", "bad_id", 0, "", ""},
		{"communehub/03244/.hidden/telemetry", "bad_id", 0, "", ""},
		{"communehub/03244/" + strings.Repeat("x", 65) + "/telemetry", "bad_id", 0, "", ""},
		{"communehub/03244/router-1/config", "unknown_topic", 0, "", ""},
		{"other/topic", "unknown_topic", 0, "", ""},
	}
	for _, c := range cases {
		ti, reason := parseTopic(c.topic, "telegraf")
		if reason != c.reason {
			t.Errorf("%s: reason %q, want %q", c.topic, reason, c.reason)
			continue
		}
		if reason == "" && (ti.kind != c.kind || ti.unit != c.unit || ti.device != c.device) {
			t.Errorf("%s: got %+v", c.topic, ti)
		}
	}
}

func TestParsePayload(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	tele := topicInfo{kind: kindTelemetry, unit: "03244", device: "router-1"}
	tg := topicInfo{kind: kindTelegraf, unit: "03244", device: "pc-office"}
	cases := []struct {
		name    string
		ti      topicInfo
		payload string
		reason  string
		check   func(t *testing.T, m *message)
	}{
		{"native ms", tele, `{"ts":1795773600000,"metrics":{"latency_ms":3.2,"loss_pct":0,"up":true}}`, "", func(t *testing.T, m *message) {
			s := m.samples[0]
			if !s.ts.Equal(time.UnixMilli(1795773600000)) || s.metrics["latency_ms"] != 3.2 || s.metrics["up"] != 1 || s.source != "native" {
				t.Errorf("sample %+v", s)
			}
		}},
		{"native rfc3339", tele, `{"ts":"2026-11-27T09:59:00Z","metrics":{"cpu_pct":12}}`, "", func(t *testing.T, m *message) {
			if !m.samples[0].ts.Equal(now.Add(-time.Minute)) {
				t.Errorf("ts %v", m.samples[0].ts)
			}
		}},
		{"native no ts is now", tele, `{"metrics":{"cpu_pct":12}}`, "", func(t *testing.T, m *message) {
			if !m.samples[0].ts.Equal(now) {
				t.Errorf("ts %v", m.samples[0].ts)
			}
		}},
		{"telegraf single, seconds", tele, `{"fields":{"average_response_ms":9.0,"percent_packet_loss":0,"result_code":0,"result_type":"success"},"name":"ping","tags":{"url":"10.0.0.1","host":"pc"},"timestamp":1795773540}`, "", func(t *testing.T, m *message) {
			s := m.samples[0]
			if s.metrics["latency_ms"] != 9 || s.metrics["loss_pct"] != 0 || s.source != "ping" || s.device != "router-1" {
				t.Errorf("sample %+v", s)
			}
			if _, ok := s.metrics["ping.result_type"]; ok {
				t.Error("string field kept")
			}
		}},
		{"telegraf batch maps by tags", tg, `{"metrics":[
			{"fields":{"average_response_ms":2,"percent_packet_loss":0},"name":"ping","tags":{"url":"192.168.1.20","host":"pc-office"},"timestamp":1795773540000},
			{"fields":{"percent_packet_loss":100,"result_code":2},"name":"ping","tags":{"url":"192.168.1.21","host":"pc-office"},"timestamp":1795773540000},
			{"fields":{"ifHCInOctets":123},"name":"snmp","tags":{"agent_host":"192.168.1.2"},"timestamp":1795773540000},
			{"fields":{"usage_idle":75},"name":"cpu","tags":{"cpu":"cpu-total","host":"pc-office"},"timestamp":1795773540000}]}`, "", func(t *testing.T, m *message) {
			if len(m.samples) != 4 {
				t.Fatalf("%d samples", len(m.samples))
			}
			want := []string{"192.168.1.20", "192.168.1.21", "192.168.1.2", "pc-office"}
			for i, w := range want {
				if m.samples[i].target != w {
					t.Errorf("sample %d target %q, want %q", i, m.samples[i].target, w)
				}
			}
			if m.samples[1].metrics["loss_pct"] != 100 || m.samples[3].metrics["cpu_pct"] != 25 {
				t.Errorf("mapping: %+v %+v", m.samples[1].metrics, m.samples[3].metrics)
			}
		}},
		{"status", topicInfo{kind: kindStatus}, "offline", "", func(t *testing.T, m *message) {
			if m.status != "offline" {
				t.Errorf("status %q", m.status)
			}
		}},
		{"status json string", topicInfo{kind: kindStatus}, `"Online"`, "", nil},
		{"meta", topicInfo{kind: kindMeta}, `{"name":"Core switch","kind":"switch","ip":"192.168.1.2","parent":"router-1","interval_s":15}`, "", func(t *testing.T, m *message) {
			if m.meta.Kind != "switch" || m.meta.Parent != "router-1" || m.meta.IntervalS != 15 {
				t.Errorf("meta %+v", m.meta)
			}
		}},
		{"sys dropped", topicInfo{kind: kindSysDropped}, "42", "", func(t *testing.T, m *message) {
			if m.dropped != 42 {
				t.Errorf("dropped %d", m.dropped)
			}
		}},

		{"garbage", tele, "\x00\xffgarbage", "bad_json", nil},
		{"not an object", tele, `[1,2,3]`, "bad_type", nil},
		{"metric as string", tele, `{"metrics":{"latency_ms":"fast"}}`, "bad_type", nil},
		{"metrics as number", tele, `{"metrics":5}`, "bad_type", nil},
		{"metric null", tele, `{"metrics":{"latency_ms":null}}`, "bad_type", nil},
		{"ts as bool", tele, `{"ts":true,"metrics":{"a":1}}`, "bad_timestamp", nil},
		{"ts as text", tele, `{"ts":"yesterday","metrics":{"a":1}}`, "bad_timestamp", nil},
		{"far future", tele, `{"ts":4102444800000,"metrics":{"a":1}}`, "future_timestamp", nil},
		{"future beyond int64 ns", tele, `{"ts":1e30,"metrics":{"a":1}}`, "future_timestamp", nil},
		{"too old", tele, `{"ts":1000000000000,"metrics":{"a":1}}`, "stale_timestamp", nil},
		{"bad metric name", tele, `{"metrics":{"a b":1}}`, "bad_metric", nil},
		{"empty metrics", tele, `{"metrics":{}}`, "no_metrics", nil},
		{"no metrics at all", tele, `{"hello":1}`, "no_metrics", nil},
		{"1 MiB", tele, `{"metrics":{"a":1},"pad":"` + strings.Repeat("x", 1<<20) + `"}`, "too_large", nil},
		{"telegraf without tag", tg, `{"fields":{"x":1},"name":"ping","tags":{},"timestamp":1795773540}`, "bad_tags", nil},
		{"telegraf bad name", tele, `{"fields":{"x":1},"name":"","timestamp":1795773540}`, "bad_metric", nil},
		{"telegraf only strings", tele, `{"fields":{"x":"y"},"name":"ping","tags":{},"timestamp":1795773540}`, "no_metrics", nil},
		{"bad status", topicInfo{kind: kindStatus}, "maybe", "bad_status", nil},
		{"meta wrong type", topicInfo{kind: kindMeta}, `{"name":5}`, "bad_type", nil},
		{"meta bad kind", topicInfo{kind: kindMeta}, `{"name":"x","kind":"toaster"}`, "bad_meta", nil},
		{"meta bad parent", topicInfo{kind: kindMeta}, `{"name":"x","parent":"a/b"}`, "bad_meta", nil},
		{"sys garbage", topicInfo{kind: kindSysDropped}, "lots", "bad_type", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, reason := parsePayload(c.ti, []byte(c.payload), now, 0)
			if reason != c.reason {
				t.Fatalf("reason %q, want %q", reason, c.reason)
			}
			if c.check != nil {
				c.check(t, m)
			}
		})
	}
}

// FuzzParsePayload: no input panics, and an accepted telemetry payload
// always yields valid metric names, finite values and timestamps in range.
func FuzzParsePayload(f *testing.F) {
	for _, s := range []string{
		`{"ts":1795773600000,"metrics":{"latency_ms":3.2,"loss_pct":0}}`,
		`{"ts":"2026-11-27T09:59:00Z","metrics":{"cpu_pct":12}}`,
		`{"fields":{"average_response_ms":9.0},"name":"ping","tags":{"url":"10.0.0.1"},"timestamp":1795773540}`,
		`{"metrics":[{"fields":{"a":1},"name":"snmp","tags":{"agent_host":"x"},"timestamp":1795773540000}]}`,
		`online`, `{"name":"x","kind":"switch"}`, `12`, `{"metrics":{"a":1e400}}`, `{"ts":-1,"metrics":{"a":1}}`, ``,
	} {
		for k := kindStatus; k <= kindSysDropped; k++ {
			f.Add(uint8(k), []byte(s))
		}
	}
	for _, s := range []string{
		` { "metrics" : { "a" : -0.5e+3 , "b" : true } , "ts" : "2026-11-27T09:59:00.123+07:00" } `,
		`{"ts":null,"metrics":{"a":01}}`, `{"ts":1,"metrics":{"a":1.}}`, `{"metrics":{"a":1,"a":2}}`,
		`{"metrics":{"a":1}} x`, `{"Metrics":{"a":1}}`, `{"metrics":{"a\u0041":1}}`, `{"metrics":{"a":1e999}}`,
	} {
		f.Add(uint8(kindTelemetry-1), []byte(s))
	}
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, k uint8, payload []byte) {
		kind := msgKind(k%5 + 1)
		ti := topicInfo{kind: kind, unit: "03244", device: "d1"}
		if kind == kindTelemetry || kind == kindTelegraf {
			// The fast path only accepts what the general decoder accepts, identically.
			if fast, ok := parseNativeFast(payload, ti, now, defaultMaxAge); ok {
				slow, reason := parseTelemetrySlow(payload, ti, now, defaultMaxAge)
				if reason != "" || len(slow) != 1 || !slow[0].ts.Equal(fast[0].ts) || len(slow[0].metrics) != len(fast[0].metrics) {
					t.Fatalf("fast path %+v, general %+v %q", fast, slow, reason)
				}
				for name, v := range fast[0].metrics {
					if sv, ok := slow[0].metrics[name]; !ok || sv != v {
						t.Fatalf("metric %s: fast %v, general %v", name, v, sv)
					}
				}
			}
		}
		m, reason := parsePayload(ti, payload, now, 0)
		if reason != "" {
			if m != nil {
				t.Fatal("rejected payload returned a message")
			}
			return
		}
		for _, s := range m.samples {
			if s.ts.After(now.Add(maxFutureSkew)) || s.ts.Before(now.Add(-defaultMaxAge)) {
				t.Fatalf("timestamp out of range: %v", s.ts)
			}
			if len(s.metrics) == 0 {
				t.Fatal("sample without metrics")
			}
			for name := range s.metrics {
				if !validMetric(name) {
					t.Fatalf("invalid metric name %q", name)
				}
			}
			// What the writer stores decodes back to the same metrics.
			var back map[string]float64
			if err := json.Unmarshal(appendMetricsJSON(nil, s.metrics), &back); err != nil || len(back) != len(s.metrics) {
				t.Fatalf("stored form of %v: %v %v", s.metrics, back, err)
			}
			for k, v := range s.metrics {
				if back[k] != v {
					t.Fatalf("metric %s: %v stored as %v", k, v, back[k])
				}
			}
		}
	})
}

func FuzzParseTopic(f *testing.F) {
	for _, s := range []string{"communehub/03244/router-1/telemetry", "telegraf/03244/pc/ping", "$SYS/broker/publish/messages/dropped", "a//b", "communehub/+/#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		ti, reason := parseTopic(topic, "telegraf")
		if reason == "" && ti.kind != kindSysDropped && (!validUnit(ti.unit) || !validID(ti.device)) {
			t.Fatalf("accepted %q with %+v", topic, ti)
		}
	})
}

func TestFastPathTakesTheCommonPayloads(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	ti := topicInfo{kind: kindTelemetry, unit: "03244", device: "d1"}
	for _, p := range []string{
		`{"ts":1795773600000,"metrics":{"latency_ms":3.2,"loss_pct":0,"cpu_pct":12}}`,
		`{"metrics":{"on_battery":true,"runtime_min":12}}`,
		`{ "metrics": { "temp_c": -4.5e0 }, "ts": "2026-11-27T09:59:00Z" }`,
	} {
		if _, ok := parseNativeFast([]byte(p), ti, now, defaultMaxAge); !ok {
			t.Errorf("fast path refused %s", p)
		}
	}
}

func TestShardKeyKeepsADevicesMessagesTogether(t *testing.T) {
	for _, c := range []struct{ topic, key string }{
		{"communehub/03244/router-1/telemetry", "communehub/03244/router-1"},
		{"communehub/03244/router-1/status", "communehub/03244/router-1"},
		{"telegraf/03244/pc/ping", "telegraf/03244/pc"},
		{"telegraf/03244/pc", "telegraf/03244/pc"},
		{"$SYS/broker/publish/messages/dropped", "$SYS/broker/publish"},
	} {
		if got := shardKey(c.topic); got != c.key {
			t.Errorf("shardKey(%q) = %q, want %q", c.topic, got, c.key)
		}
	}
}
