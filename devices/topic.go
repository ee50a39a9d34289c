package devices

import (
	"strings"
)

// msgKind is what an MQTT topic carries.
type msgKind int

const (
	kindStatus msgKind = iota + 1
	kindMeta
	kindTelemetry
	kindTelegraf
	kindSysDropped
)

func (k msgKind) String() string {
	switch k {
	case kindStatus:
		return "status"
	case kindMeta:
		return "meta"
	case kindTelemetry:
		return "telemetry"
	case kindTelegraf:
		return "telegraf"
	case kindSysDropped:
		return "sys"
	}
	return "unknown"
}

// TopicPrefix is the root of the hub's own device topics:
// communehub/{commune}/{device}/{status|meta|telemetry}.
const TopicPrefix = "communehub"

// SysDroppedTopic is where Mosquitto publishes how many messages it dropped.
const SysDroppedTopic = "$SYS/broker/publish/messages/dropped"

// topicInfo is a parsed topic.
type topicInfo struct {
	kind   msgKind
	unit   string // commune code
	device string // device id (telemetry/status/meta) or the agent (telegraf)
}

// parseTopic splits an MQTT topic into what it carries. telegraf is the
// configured Telegraf prefix (one or more segments). reason is a
// communehub_ingest_rejected_total label when the topic is not accepted.
func parseTopic(topic, telegraf string) (ti topicInfo, reason string) {
	if topic == SysDroppedTopic {
		return topicInfo{kind: kindSysDropped}, ""
	}
	if rest, ok := strings.CutPrefix(topic, telegraf+"/"); ok && telegraf != "" {
		// {prefix}/{commune}/{agent}[/anything…]
		segs := strings.SplitN(rest, "/", 3)
		if len(segs) < 2 {
			return ti, "topic_depth"
		}
		if !validUnit(segs[0]) || !validID(segs[1]) {
			return ti, "bad_id"
		}
		return topicInfo{kind: kindTelegraf, unit: segs[0], device: segs[1]}, ""
	}
	rest, ok := strings.CutPrefix(topic, TopicPrefix+"/")
	if !ok {
		return ti, "unknown_topic"
	}
	segs := strings.Split(rest, "/")
	if len(segs) != 3 {
		return ti, "topic_depth"
	}
	if !validUnit(segs[0]) || !validID(segs[1]) {
		return ti, "bad_id"
	}
	ti.unit, ti.device = segs[0], segs[1]
	switch segs[2] {
	case "status":
		ti.kind = kindStatus
	case "meta":
		ti.kind = kindMeta
	case "telemetry":
		ti.kind = kindTelemetry
	default:
		return ti, "unknown_topic"
	}
	return ti, ""
}

// validUnit accepts a 5-digit commune code (2 digits would be a province,
// which has no office LAN of its own here).
func validUnit(s string) bool {
	if len(s) != 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validID accepts a device id: 1–64 of [A-Za-z0-9_.-], not starting with
// a dot. Ids appear in bus topics and URLs, so nothing else is allowed.
func validID(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// validMetric accepts a metric name: 1–64 of [A-Za-z0-9_.-].
func validMetric(s string) bool { return validID(s) }
