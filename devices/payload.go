package devices

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Payload limits: anything larger is rejected as too_large.
const (
	maxPayload        = 256 << 10 // a Telegraf batch of a few hundred metrics
	maxMetricsPerMsg  = 256
	maxSamplesPerMsg  = 2000
	maxFutureSkew     = 5 * time.Minute
	defaultMaxAge     = 90 * 24 * time.Hour
	maxMetaFieldBytes = 200
)

// Kinds of device; meta with any other kind is rejected.
var deviceKinds = map[string]bool{
	"router": true, "switch": true, "ap": true, "camera": true, "pc": true,
	"printer": true, "ups": true, "agent": true, "other": true,
}

// Meta is what a device says about itself on …/meta (retained).
type Meta struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	IP        string `json:"ip"`
	MAC       string `json:"mac"`
	Location  string `json:"location"`
	Parent    string `json:"parent"`
	IntervalS int    `json:"interval_s"`
}

// sample is one timestamped set of metrics for one device.
type sample struct {
	unit    string // commune code
	device  string // device id; for Telegraf samples filled in by the state from target
	target  string // Telegraf: the tag value (ip or host) that names the device
	ts      time.Time
	source  string // "native" or the Telegraf measurement name
	metrics map[string]float64
}

// message is a parsed, accepted MQTT message.
type message struct {
	kind     msgKind
	unit     string
	device   string // the publishing device, or the Telegraf agent
	received time.Time
	status   string // kindStatus: "online" or "offline"
	meta     *Meta
	samples  []sample
	dropped  int64  // kindSysDropped: the broker's counter
	ack      func() // acknowledges the MQTT message once stored; nil when not needed
}

// parsePayload validates and decodes a payload for the topic. reason is the
// communehub_ingest_rejected_total label when it is rejected.
func parsePayload(ti topicInfo, payload []byte, now time.Time, maxAge time.Duration) (*message, string) {
	if len(payload) > maxPayload {
		return nil, "too_large"
	}
	if maxAge <= 0 {
		maxAge = defaultMaxAge
	}
	m := &message{kind: ti.kind, unit: ti.unit, device: ti.device, received: now}
	switch ti.kind {
	case kindSysDropped:
		n, err := strconv.ParseInt(strings.TrimSpace(string(payload)), 10, 64)
		if err != nil || n < 0 {
			return nil, "bad_type"
		}
		m.dropped = n
		return m, ""
	case kindStatus:
		s := strings.ToLower(strings.Trim(strings.TrimSpace(string(payload)), `"`))
		if s != "online" && s != "offline" {
			return nil, "bad_status"
		}
		m.status = s
		return m, ""
	case kindMeta:
		meta, reason := parseMeta(payload)
		if reason != "" {
			return nil, reason
		}
		m.meta = meta
		return m, ""
	case kindTelemetry, kindTelegraf:
		samples, reason := parseTelemetry(payload, ti, now, maxAge)
		if reason != "" {
			return nil, reason
		}
		m.samples = samples
		return m, ""
	}
	return nil, "unknown_topic"
}

func parseMeta(payload []byte) (*Meta, string) {
	var meta Meta
	if err := json.Unmarshal(payload, &meta); err != nil {
		return nil, jsonReason(err)
	}
	if meta.Kind == "" {
		meta.Kind = "other"
	}
	if !deviceKinds[meta.Kind] {
		return nil, "bad_meta"
	}
	if meta.Parent != "" && !validID(meta.Parent) {
		return nil, "bad_meta"
	}
	if meta.IntervalS < 0 || meta.IntervalS > 86400 {
		return nil, "bad_meta"
	}
	for _, f := range []string{meta.Name, meta.IP, meta.MAC, meta.Location} {
		if len(f) > maxMetaFieldBytes {
			return nil, "bad_meta"
		}
	}
	return &meta, ""
}

// telemetryDoc holds every top-level key either format may use.
type telemetryDoc struct {
	TS        json.RawMessage `json:"ts"`
	Metrics   json.RawMessage `json:"metrics"`   // native: object; Telegraf batch: array
	Fields    json.RawMessage `json:"fields"`    // Telegraf single metric
	Name      json.RawMessage `json:"name"`      // Telegraf
	Tags      json.RawMessage `json:"tags"`      // Telegraf
	Timestamp json.RawMessage `json:"timestamp"` // Telegraf
}

// telegrafMetric is one metric of Telegraf's JSON serializer.
type telegrafMetric struct {
	Fields    map[string]json.RawMessage `json:"fields"`
	Name      string                     `json:"name"`
	Tags      map[string]string          `json:"tags"`
	Timestamp json.RawMessage            `json:"timestamp"`
}

// parseTelemetry detects the format: native {"ts","metrics":{…}}, Telegraf
// {"fields","name","tags","timestamp"} or Telegraf batch {"metrics":[…]}.
// Values are rounded to MetricDecimals.
func parseTelemetry(payload []byte, ti topicInfo, now time.Time, maxAge time.Duration) ([]sample, string) {
	samples, ok := parseNativeFast(payload, ti, now, maxAge)
	reason := ""
	if !ok {
		samples, reason = parseTelemetrySlow(payload, ti, now, maxAge)
	}
	roundSamples(samples)
	return samples, reason
}

// parseTelemetrySlow is the general decoder, for every format and every
// rejection reason.
func parseTelemetrySlow(payload []byte, ti topicInfo, now time.Time, maxAge time.Duration) ([]sample, string) {
	var doc telemetryDoc
	if err := json.Unmarshal(payload, &doc); err != nil {
		return nil, jsonReason(err) // not JSON; or not an object, or a key of the wrong type
	}
	metrics := bytes.TrimSpace(doc.Metrics)
	switch {
	case len(metrics) > 0 && metrics[0] == '{':
		return parseNative(doc, ti, now, maxAge)
	case len(metrics) > 0 && metrics[0] == '[':
		var batch []telegrafMetric
		if err := json.Unmarshal(metrics, &batch); err != nil {
			return nil, "bad_type"
		}
		if len(batch) == 0 {
			return nil, "no_metrics"
		}
		if len(batch) > maxSamplesPerMsg {
			return nil, "too_large"
		}
		out := make([]sample, 0, len(batch))
		for i := range batch {
			s, reason := telegrafSample(&batch[i], ti, now, maxAge)
			if reason != "" {
				return nil, reason
			}
			if s != nil {
				out = append(out, *s)
			}
		}
		if len(out) == 0 {
			return nil, "no_metrics"
		}
		return out, ""
	case len(doc.Fields) > 0:
		var tm telegrafMetric
		if err := json.Unmarshal(payload, &tm); err != nil {
			return nil, "bad_type"
		}
		s, reason := telegrafSample(&tm, ti, now, maxAge)
		if reason != "" {
			return nil, reason
		}
		if s == nil {
			return nil, "no_metrics"
		}
		return []sample{*s}, ""
	case len(metrics) > 0:
		return nil, "bad_type"
	}
	return nil, "no_metrics"
}

func parseNative(doc telemetryDoc, ti topicInfo, now time.Time, maxAge time.Duration) ([]sample, string) {
	ts, reason := parseTimestamp(doc.TS, now, maxAge)
	if reason != "" {
		return nil, reason
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(doc.Metrics, &raw); err != nil {
		return nil, "bad_type"
	}
	if len(raw) == 0 {
		return nil, "no_metrics"
	}
	if len(raw) > maxMetricsPerMsg {
		return nil, "too_large"
	}
	metrics := make(map[string]float64, len(raw))
	for k, v := range raw {
		if !validMetric(k) {
			return nil, "bad_metric"
		}
		f, ok := number(v)
		if !ok {
			return nil, "bad_type"
		}
		metrics[k] = f
	}
	// On a Telegraf topic a native payload is about the agent itself.
	return []sample{{device: ti.device, ts: ts, source: "native", metrics: metrics}}, ""
}

// jsonReason tells malformed JSON from well-formed JSON of the wrong shape.
func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "bad_json"
	}
	return "bad_type"
}

// appendMetricsJSON encodes metrics as a JSON object of numbers (what the
// telemetry table stores), without reflection.
func appendMetricsJSON(b []byte, metrics map[string]float64) []byte {
	b = append(b, '{')
	first := true
	for k, v := range metrics {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, k...) // metric names are [A-Za-z0-9_.-]: nothing to escape
		b = append(b, '"', ':')
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return append(b, '}')
}

// number decodes a JSON number or boolean (true = 1) into a finite float.
func number(v json.RawMessage) (float64, bool) {
	v = bytes.TrimSpace(v)
	switch string(v) {
	case "true":
		return 1, true
	case "false":
		return 0, true
	}
	if len(v) == 0 || !(v[0] == '-' || v[0] >= '0' && v[0] <= '9') {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// telegrafAliases maps Telegraf fields to the hub's canonical metric names
// (charts, alarms and the wall use these).
var telegrafAliases = map[string]string{
	"ping.average_response_ms":       "latency_ms",
	"ping.percent_packet_loss":       "loss_pct",
	"mem.used_percent":               "mem_pct",
	"system.uptime":                  "uptime_s",
	"apcupsd.battery_charge_percent": "battery_pct",
	"upsd.battery_charge_percent":    "battery_pct",
}

// telegrafSample converts one Telegraf metric; nil when it has no numeric
// field worth keeping. On a telegraf/ topic the device is named by a tag:
// ping by url, snmp by agent_host, anything else by host.
func telegrafSample(tm *telegrafMetric, ti topicInfo, now time.Time, maxAge time.Duration) (*sample, string) {
	if tm.Name == "" || !validMetric(tm.Name) {
		return nil, "bad_metric"
	}
	ts, reason := parseTimestamp(tm.Timestamp, now, maxAge)
	if reason != "" {
		return nil, reason
	}
	if len(tm.Fields) > maxMetricsPerMsg {
		return nil, "too_large"
	}
	s := &sample{ts: ts, source: tm.Name, metrics: make(map[string]float64, len(tm.Fields)+2)}
	for k, v := range tm.Fields {
		f, ok := number(v)
		if !ok {
			continue // Telegraf string fields (e.g. result_type) are not series
		}
		key := tm.Name + "." + k
		if !validMetric(key) {
			continue
		}
		s.metrics[key] = f
		if alias := telegrafAliases[key]; alias != "" {
			s.metrics[alias] = f
		}
	}
	switch tm.Name {
	case "ping":
		if rc, ok := s.metrics["ping.result_code"]; ok && rc != 0 {
			s.metrics["loss_pct"] = 100 // no such host / ping error: unreachable
		}
	case "cpu":
		if idle, ok := s.metrics["cpu.usage_idle"]; ok && (tm.Tags["cpu"] == "" || tm.Tags["cpu"] == "cpu-total") {
			s.metrics["cpu_pct"] = 100 - idle
		}
	case "net_response":
		if rt, ok := s.metrics["net_response.response_time"]; ok {
			s.metrics["latency_ms"] = rt * 1000
		}
	}
	if len(s.metrics) == 0 {
		return nil, ""
	}
	if ti.kind == kindTelegraf {
		var key string
		switch tm.Name {
		case "ping":
			key = tm.Tags["url"]
		case "snmp":
			key = tm.Tags["agent_host"]
		default:
			key = tm.Tags["host"]
		}
		if key == "" {
			key = tm.Tags["host"]
		}
		if key == "" {
			return nil, "bad_tags"
		}
		if len(key) > 64 {
			return nil, "bad_id"
		}
		s.target = key
	} else {
		s.device = ti.device
	}
	return s, ""
}

// parseTimestamp reads unix time as a number (seconds, ms, µs or ns by
// magnitude, so Telegraf's default 1s units work) or an RFC 3339 string.
// Absent means now.
func parseTimestamp(raw json.RawMessage, now time.Time, maxAge time.Duration) (time.Time, string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return now, ""
	}
	var ts time.Time
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return ts, "bad_timestamp"
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return ts, "bad_timestamp"
		}
		ts = t
	} else {
		f, ok := number(raw)
		if !ok || f <= 0 || raw[0] == 't' || raw[0] == 'f' {
			return ts, "bad_timestamp"
		}
		switch {
		case f < 1e11: // seconds (until year 5138)
			ts = time.Unix(0, int64(f*1e9))
		case f < 1e14: // milliseconds
			ts = time.UnixMilli(int64(f))
		case f < 1e17: // microseconds
			ts = time.UnixMicro(int64(f))
		case f < 9.2e18: // nanoseconds
			ts = time.Unix(0, int64(f))
		default:
			return ts, "future_timestamp"
		}
	}
	if ts.After(now.Add(maxFutureSkew)) {
		return ts, "future_timestamp"
	}
	if ts.Before(now.Add(-maxAge)) {
		return ts, "stale_timestamp"
	}
	return ts, ""
}
