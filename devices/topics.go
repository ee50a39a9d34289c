package devices

import "github.com/communehub/communehub/hub"

// unitFamily is commune/{code}/devices: a commune's LAN as its wall and
// technician page show it (every device's status, the open incidents and
// alarms), republished on each change. Public screens see its counts only.
var unitFamily = hub.TopicFamily{
	Pattern: "commune/+/devices", Kind: "devices", Owner: "devices",
	// Withheld lists (devices, incidents, alarms) are counted by their
	// kind, severity or status and their latency and loss averaged.
	Public: &hub.PublicFields{CountBy: []string{"kind", "severity", "status"}, Average: []string{"latency_ms", "loss_pct"}},
}

// UnitTopic returns commune/{code}/devices, the topic of a commune's LAN.
func UnitTopic(code string) string { return unitFamily.Topic(code) }

// DeclareTopics declares what devices publishes (New does; a tool that
// publishes devices topics without the service declares them with it).
func DeclareTopics(t *hub.Topics) error {
	if t == nil {
		return nil
	}
	return t.Declare(unitFamily)
}
