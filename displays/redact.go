package displays

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Public screens (a lobby) get aggregates only: no citizen names, no dossier
// codes, no free text. The rule is an allow-list applied on the server to
// every payload before it is framed for a public display, so a field a
// publisher adds later is withheld until it is listed here:
//
//   - numbers, booleans and null are kept (counts, rates, minutes);
//   - objects are kept and filtered recursively;
//   - a string is kept only under a key the topic's policy lists;
//   - an array is kept (its items filtered) only under a key the policy
//     lists; any other array becomes a summary:
//     {"redacted":true,"count":N,"by":{value:count},"<field>":{"avg","max","n"}}
//     where "by" counts the items by the first of groupBy they carry (an
//     enumeration such as a procedure name, an urgency or an alarm
//     severity, never free text) and the averages are over numeric fields.
type policy struct {
	strings map[string]bool    // keys whose string values are kept
	arrays  map[string]*policy // keys whose arrays are kept, with the items' policy
}

// groupBy are the item fields a redacted list is counted by; numeric are
// the item fields it is averaged over.
var (
	groupBy = []string{"procedure_name", "urgency", "kind", "severity", "status"}
	numeric = []string{"latency_ms", "loss_pct"}
)

func set(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

var (
	baseStrings = []string{"unit", "from", "to", "as_of", "date", "time"}

	policyKPI      = &policy{strings: set(baseStrings...)}
	policyProvince = &policy{strings: set(baseStrings...), arrays: map[string]*policy{
		// Communes are public administrative units; their names are not personal data.
		"communes": {strings: set("code", "name")},
	}}
	policyBacklog = &policy{strings: set(baseStrings...), arrays: map[string]*policy{
		"trend": {strings: set("date")},
	}}
	policyDevices  = &policy{strings: set(baseStrings...)}
	policyMeetings = &policy{strings: set(append(baseStrings, "id", "title", "started_at", "starts_at")...)}
	// In a meeting, participants, the speaker and the queue are people: their
	// names are withheld (counted). The titles of the meeting and of the
	// agenda item and the question put to the vote are the council's public
	// business.
	policyMeeting = &policy{strings: set(append(baseStrings, "id", "title", "state", "question", "rule", "since", "started_at", "starts_at")...)}
	policyUnknown = &policy{strings: set(baseStrings...)}
)

// topicKind names the family of a data topic: kpi, province_kpi, backlog,
// devices, meetings, meeting; "" for topics displays do not render.
func topicKind(topic string) string {
	segs := strings.Split(topic, "/")
	switch {
	case len(segs) == 3 && segs[0] == "commune":
		switch segs[2] {
		case "kpi", "backlog", "devices", "meetings":
			return segs[2]
		}
	case len(segs) == 3 && segs[0] == "province" && segs[2] == "kpi":
		return "province_kpi"
	case len(segs) == 2 && segs[0] == "meeting":
		return "meeting"
	}
	return ""
}

func policyFor(topic string) *policy {
	switch topicKind(topic) {
	case "kpi":
		return policyKPI
	case "province_kpi":
		return policyProvince
	case "backlog":
		return policyBacklog
	case "devices":
		return policyDevices
	case "meetings":
		return policyMeetings
	case "meeting":
		return policyMeeting
	}
	return policyUnknown
}

// redactPublic returns data as a public display may see it. Invalid JSON
// gives null: nothing unchecked leaves the hub.
func redactPublic(topic string, data json.RawMessage) json.RawMessage {
	if len(data) == 0 {
		return json.RawMessage("null")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return json.RawMessage("null")
	}
	out, err := json.Marshal(policyFor(topic).filter(v))
	if err != nil {
		return json.RawMessage("null")
	}
	return out
}

// filter applies p to a decoded JSON value found at the top level or as an
// object member.
func (p *policy) filter(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			switch val := val.(type) {
			case string:
				if p.strings[k] {
					out[k] = val
				}
			case []any:
				if ip, ok := p.arrays[k]; ok {
					items := make([]any, 0, len(val))
					for _, it := range val {
						items = append(items, ip.filterItem(it))
					}
					out[k] = items
				} else {
					out[k] = summarize(val)
				}
			default:
				out[k] = p.filter(val)
			}
		}
		return out
	case []any:
		return summarize(x)
	case string:
		return nil
	default: // json.Number, bool, nil
		return x
	}
}

// filterItem filters one item of a kept array: objects by p, scalars kept
// unless they are strings.
func (p *policy) filterItem(v any) any {
	switch v.(type) {
	case string:
		return nil
	case []any:
		return summarize(v.([]any))
	}
	return p.filter(v)
}

// summarize turns a withheld list into counts and averages.
func summarize(items []any) map[string]any {
	out := map[string]any{"redacted": true, "count": len(items)}
	by := map[string]int{}
	type agg struct {
		sum, max float64
		n        int
	}
	aggs := map[string]*agg{}
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			continue
		}
		for _, g := range groupBy {
			if v, ok := m[g]; ok {
				if key := groupKey(v); key != "" {
					by[key]++
				}
				break
			}
		}
		for _, f := range numeric {
			n, ok := m[f].(json.Number)
			if !ok {
				continue
			}
			v, err := n.Float64()
			if err != nil {
				continue
			}
			a := aggs[f]
			if a == nil {
				a = &agg{max: v}
				aggs[f] = a
			}
			a.sum += v
			a.max = max(a.max, v)
			a.n++
		}
	}
	if len(by) > 0 {
		out["by"] = by
	}
	for f, a := range aggs {
		out[f] = map[string]any{"avg": a.sum / float64(a.n), "max": a.max, "n": a.n}
	}
	return out
}

// groupKey is a list item's group: a short string or a number.
func groupKey(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) <= 80 {
			return x
		}
	case json.Number:
		return x.String()
	}
	return ""
}
