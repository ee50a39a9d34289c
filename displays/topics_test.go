package displays

import "github.com/communehub/communehub/hub"

// publisherFamilies are the topic families walls show, as backlog, devices
// and meetings declare them (displays' tests cannot import those
// features; cmd/communehub's tests run the real declarations).
var publisherFamilies = []hub.TopicFamily{
	{Pattern: "commune/+/kpi", Kind: "kpi", Owner: "backlog", Public: &hub.PublicFields{}},
	{Pattern: "commune/+/backlog", Kind: "backlog", Owner: "backlog", Public: &hub.PublicFields{
		Lists: map[string]*hub.PublicFields{"trend": {Strings: []string{"date"}}}, CountBy: []string{"procedure_name", "urgency"}}},
	{Pattern: "province/+/kpi", Kind: "province_kpi", Owner: "backlog", Public: &hub.PublicFields{
		Lists: map[string]*hub.PublicFields{"communes": {Strings: []string{"code", "name"}}}}},
	{Pattern: "commune/+/devices", Kind: "devices", Owner: "devices", Public: &hub.PublicFields{
		CountBy: []string{"kind", "severity", "status"}, Average: []string{"latency_ms", "loss_pct"}}},
	{Pattern: "commune/+/meetings", Kind: "meetings", Owner: "meetings", Public: &hub.PublicFields{
		Strings: []string{"id", "title", "started_at", "starts_at"}}},
	{Pattern: "meeting/+", Kind: "meeting", Owner: "meetings", Public: &hub.PublicFields{
		Strings: []string{"id", "title", "state", "question", "rule", "since", "started_at", "starts_at"}, CountBy: []string{"status"}}},
}

// testTopics is a register with publisherFamilies and the displays' own.
func testTopics() *hub.Topics {
	t := hub.NewTopics(nil)
	t.MustDeclare(publisherFamilies...)
	t.MustDeclare(controlFamilies...)
	return t
}
