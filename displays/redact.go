package displays

import (
	"bytes"
	"encoding/json"
	"sync"

	"github.com/communehub/communehub/hub"
)

// Public screens (a lobby) get aggregates only: no citizen names, no dossier
// codes, no free text. The rule is an allow-list applied on the server to
// every payload before it is framed for a public display, so a field a
// publisher adds later is withheld until it is listed. Each publisher
// declares its list with its topic family (hub.TopicFamily.Public); this
// file only enforces it:
//
//   - numbers, booleans and null are kept (counts, rates, minutes);
//   - objects are kept and filtered recursively;
//   - a string is kept only under a key the family lists (or one of
//     hub.CommonPublicStrings);
//   - an array is kept (its items filtered) only under a key the family
//     lists; any other array becomes a summary:
//     {"redacted":true,"count":N,"by":{value:count},"<field>":{"avg","max","n"}}
//     where "by" counts the items by the first of the family's CountBy they
//     carry (an enumeration such as a procedure name, an urgency or an
//     alarm severity, never free text) and the averages are over its
//     Average fields.
type policy struct {
	strings map[string]bool    // keys whose string values are kept
	arrays  map[string]*policy // keys whose arrays are kept, with the items' policy
	countBy []string           // item fields a withheld list is counted by
	average []string           // item fields a withheld list is averaged over
}

func set(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// policyUndeclared is the policy of a topic no family with a Public list
// covers: numbers and the common strings only.
var policyUndeclared = newPolicy(&hub.PublicFields{})

// newPolicy is the redaction of a family's public fields.
func newPolicy(pf *hub.PublicFields) *policy {
	p := itemPolicy(pf, pf.CountBy, pf.Average)
	for _, k := range hub.CommonPublicStrings {
		p.strings[k] = true
	}
	return p
}

// itemPolicy is the policy of one level of pf; lists nested in it are
// summarised as the family's root says.
func itemPolicy(pf *hub.PublicFields, countBy, average []string) *policy {
	p := &policy{strings: set(pf.Strings...), arrays: map[string]*policy{}, countBy: countBy, average: average}
	for k, item := range pf.Lists {
		p.arrays[k] = itemPolicy(item, countBy, average)
	}
	return p
}

// policies caches each declared family's redaction by kind.
type policies struct {
	topics *hub.Topics
	mu     sync.Mutex
	byKind map[string]*policy
}

// of returns the redaction of topic's family.
func (ps *policies) of(topic string) *policy {
	f, ok := ps.topics.Lookup(topic)
	if !ok || f.Public == nil {
		return policyUndeclared
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.byKind[f.Kind]
	if p == nil {
		if ps.byKind == nil {
			ps.byKind = map[string]*policy{}
		}
		p = newPolicy(f.Public)
		ps.byKind[f.Kind] = p
	}
	return p
}

// redactPublic returns data as a public display may see it under p.
// Invalid JSON gives null: nothing unchecked leaves the hub.
func redactPublic(p *policy, data json.RawMessage) json.RawMessage {
	if len(data) == 0 {
		return json.RawMessage("null")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return json.RawMessage("null")
	}
	out, err := json.Marshal(p.filter(v))
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
					out[k] = p.summarize(val)
				}
			default:
				out[k] = p.filter(val)
			}
		}
		return out
	case []any:
		return p.summarize(x)
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
		return p.summarize(v.([]any))
	}
	return p.filter(v)
}

// summarize turns a withheld list into counts and averages.
func (p *policy) summarize(items []any) map[string]any {
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
		for _, g := range p.countBy {
			if v, ok := m[g]; ok {
				if key := groupKey(v); key != "" {
					by[key]++
				}
				break
			}
		}
		for _, f := range p.average {
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
