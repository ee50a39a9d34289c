package backlog

import "github.com/communehub/communehub/hub"

// The backlog topic families: each commune's indicators and backlog, and
// each province's indicators, republished on every change and at every
// Vietnam midnight (docs/topics.md).
var (
	kpiFamily = hub.TopicFamily{Pattern: "commune/+/kpi", Kind: "kpi", Owner: "backlog",
		Public: &hub.PublicFields{}}
	// A public screen sees the trend by day and the overdue and urgent
	// lists as counts by procedure or urgency: no citizen, no dossier code.
	backlogFamily = hub.TopicFamily{Pattern: "commune/+/backlog", Kind: "backlog", Owner: "backlog",
		Public: &hub.PublicFields{Lists: map[string]*hub.PublicFields{"trend": {Strings: []string{"date"}}},
			CountBy: []string{"procedure_name", "urgency"}}}
	// Communes are public administrative units: their names are no
	// personal data.
	provinceFamily = hub.TopicFamily{Pattern: "province/+/kpi", Kind: "province_kpi", Owner: "backlog",
		Public: &hub.PublicFields{Lists: map[string]*hub.PublicFields{"communes": {Strings: []string{"code", "name"}}}}}
)

// KPITopic returns commune/{code}/kpi, a commune's indicators.
func KPITopic(commune string) string { return kpiFamily.Topic(commune) }

// BacklogTopic returns commune/{code}/backlog, a commune's open work.
func BacklogTopic(commune string) string { return backlogFamily.Topic(commune) }

// ProvinceKPITopic returns province/{code}/kpi, a province's indicators.
func ProvinceKPITopic(province string) string { return provinceFamily.Topic(province) }

// DeclareTopics declares what the backlog publishes.
func DeclareTopics(t *hub.Topics) error { return t.Declare(kpiFamily, backlogFamily, provinceFamily) }
