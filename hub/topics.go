package hub

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// A TopicFamily is one family of bus topics as its publisher declares it
// with the kernel (Topics.Declare): the contract other features and the
// kernel read, instead of string literals of their own.
//
//   - Pattern names the topics, with "+" for one segment (a unit code, a
//     meeting id): "commune/+/kpi". Topic fills the "+" in order.
//   - Kind is the family's short name, unique across the hub ("kpi"); wall
//     screens know their tiles and freshness limits by it.
//   - Read decides who may follow the topics on the /ws event socket; the
//     kernel applies it as a TopicGuards guard. nil: every signed-in
//     principal, and no guest.
//   - Public is what a public screen (a lobby) may see of an event's data.
//     A family with Public is one that wall screens show; nil: screens do
//     not follow it.
type TopicFamily struct {
	Pattern string
	Kind    string
	Owner   string // the publishing feature, for errors and docs
	Read    func(ctx context.Context, p *Principal, topic string) (bool, error)
	Public  *PublicFields
}

// PublicFields is the allow-list a public screen's redaction applies to
// one level of a payload (displays enforces it): numbers, booleans and null
// always pass and objects are filtered with the same list; a string passes
// only under a key of Strings or CommonPublicStrings (items of a list: of
// their Strings only); an array passes, its items filtered by their own
// PublicFields, only under a key of Lists — any other array becomes a
// summary (CountBy, Average).
type PublicFields struct {
	Strings []string
	Lists   map[string]*PublicFields
	// CountBy and Average (at the family's top level) say how a withheld
	// list is summarised: counted by the first of CountBy its items carry
	// (enumerations, never free text), averaged over Average.
	CountBy []string
	Average []string
}

// CommonPublicStrings are the string fields every family's payload may
// show a public screen: which unit, which period, as of when.
var CommonPublicStrings = []string{"unit", "from", "to", "as_of", "date", "time"}

// Topic returns the family's topic for args, which fill the pattern's "+"
// segments in order. It panics when their number differs: a programming
// error, caught by the publisher's tests.
func (f TopicFamily) Topic(args ...string) string {
	segs := strings.Split(f.Pattern, "/")
	n := 0
	for i, s := range segs {
		if s == "+" {
			if n == len(args) {
				panic(fmt.Sprintf("hub: topic %s needs more than %d values", f.Pattern, len(args)))
			}
			segs[i] = args[n]
			n++
		}
	}
	if n != len(args) {
		panic(fmt.Sprintf("hub: topic %s takes %d values, not %d", f.Pattern, n, len(args)))
	}
	return strings.Join(segs, "/")
}

// Topics is the hub's register of declared topic families. Features
// declare theirs when they are built; the bus counts (and a strict bus in
// tests refuses) what is published outside them.
type Topics struct {
	guards *TopicGuards

	mu       sync.RWMutex
	families []TopicFamily
	literals []int // per family, its pattern's literal segments: Lookup's specificity, counted once
}

// NewTopics returns an empty register that applies the families' Read
// rules through guards (nil: no rules applied; tests of one feature).
func NewTopics(guards *TopicGuards) *Topics { return &Topics{guards: guards} }

// Declare adds families. It refuses a pattern that is not a valid topic
// pattern or has a "#", a pattern or kind declared before, and a pattern
// that overlaps one declared before (some topic would match both) unless
// one refines the other ("displays/pairings" within "displays/+"): a topic
// belongs to the most specific family it matches.
func (t *Topics) Declare(fams ...TopicFamily) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range fams {
		if !ValidPattern(f.Pattern) || strings.Contains(f.Pattern, "#") {
			return fmt.Errorf("hub: %s declares invalid topic pattern %q", f.Owner, f.Pattern)
		}
		if f.Kind == "" {
			return fmt.Errorf("hub: %s declares %s without a kind", f.Owner, f.Pattern)
		}
		for _, g := range t.families {
			if g.Kind == f.Kind {
				return fmt.Errorf("hub: topic kind %q declared by %s and %s", f.Kind, g.Owner, f.Owner)
			}
			if overlap(g.Pattern, f.Pattern) && !refines(g.Pattern, f.Pattern) && !refines(f.Pattern, g.Pattern) {
				return fmt.Errorf("hub: topic %s (%s) overlaps %s (%s)", f.Pattern, f.Owner, g.Pattern, g.Owner)
			}
		}
		t.families = append(t.families, f)
		t.literals = append(t.literals, literals(f.Pattern))
		if f.Read != nil && t.guards != nil {
			t.guards.Guard(f.Pattern, f.Read)
		}
	}
	return nil
}

// MustDeclare is Declare for families fixed at build time: an error is a
// programming error.
func (t *Topics) MustDeclare(fams ...TopicFamily) {
	if err := t.Declare(fams...); err != nil {
		panic(err)
	}
}

// overlap reports whether some topic matches both patterns (no "#").
func overlap(a, b string) bool {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	if len(as) != len(bs) {
		return false
	}
	for i := range as {
		if as[i] != "+" && bs[i] != "+" && as[i] != bs[i] {
			return false
		}
	}
	return true
}

// refines reports whether every topic of a is one of b and a != b: the
// same length, and where they differ a has a literal and b a "+".
func refines(a, b string) bool {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	if a == b || len(as) != len(bs) {
		return false
	}
	for i := range as {
		if as[i] != bs[i] && bs[i] != "+" {
			return false
		}
	}
	return true
}

// Lookup returns the family topic belongs to: the most specific one it
// matches (the most literal segments).
func (t *Topics) Lookup(topic string) (TopicFamily, bool) {
	if t == nil {
		return TopicFamily{}, false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	best, found, lits := TopicFamily{}, false, -1
	for i, f := range t.families {
		if t.literals[i] > lits && Match(f.Pattern, topic) {
			best, found, lits = f, true, t.literals[i]
		}
	}
	return best, found
}

func literals(pattern string) int {
	n := 0
	for _, s := range strings.Split(pattern, "/") {
		if s != "+" {
			n++
		}
	}
	return n
}

// Kind returns the family declared as kind.
func (t *Topics) Kind(kind string) (TopicFamily, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, f := range t.families {
		if f.Kind == kind {
			return f, true
		}
	}
	return TopicFamily{}, false
}

// Families returns the declared families, in declaration order.
func (t *Topics) Families() []TopicFamily {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Clone(t.families)
}

// Declared reports whether topic belongs to a declared family.
func (t *Topics) Declared(topic string) bool {
	if t == nil {
		return false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, f := range t.families {
		if Match(f.Pattern, topic) {
			return true
		}
	}
	return false
}
