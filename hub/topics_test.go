package hub

import (
	"context"
	"strings"
	"testing"
)

func TestTopicFamilyTopic(t *testing.T) {
	f := TopicFamily{Pattern: "meeting/+/log", Kind: "meeting_log"}
	if got := f.Topic("42"); got != "meeting/42/log" {
		t.Fatalf("Topic(42) = %q", got)
	}
	g := TopicFamily{Pattern: "a/+/b/+", Kind: "x"}
	if got := g.Topic("1", "2"); got != "a/1/b/2" {
		t.Fatalf("Topic(1, 2) = %q", got)
	}
	for _, args := range [][]string{{}, {"1", "2"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Topic(%q) of %s did not panic", args, f.Pattern)
				}
			}()
			f.Topic(args...)
		}()
	}
}

func TestTopicsDeclareRefusesWhatCannotBeOneContract(t *testing.T) {
	tp := NewTopics(nil)
	if err := tp.Declare(TopicFamily{Pattern: "commune/+/kpi", Kind: "kpi", Owner: "backlog"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		f    TopicFamily
		want string
	}{
		{TopicFamily{Pattern: "commune/#", Kind: "all", Owner: "x"}, "invalid"},
		{TopicFamily{Pattern: "commune//kpi", Kind: "bad", Owner: "x"}, "invalid"},
		{TopicFamily{Pattern: "commune/+/devices", Owner: "x"}, "without a kind"},
		{TopicFamily{Pattern: "commune/+/devices", Kind: "kpi", Owner: "devices"}, `kind "kpi" declared by backlog and devices`},
		{TopicFamily{Pattern: "commune/x1/+", Kind: "other", Owner: "devices"}, "overlaps commune/+/kpi (backlog)"},
	} {
		err := tp.Declare(tt.f)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Declare(%s %q) = %v, want an error with %q", tt.f.Pattern, tt.f.Kind, err, tt.want)
		}
	}
	if err := tp.Declare(TopicFamily{Pattern: "commune/+/kpi/history", Kind: "kpi_history", Owner: "backlog"}); err != nil {
		t.Errorf("a longer pattern does not overlap: %v", err)
	}
	tp.MustDeclare(TopicFamily{Pattern: "displays/+", Kind: "display", Owner: "displays"},
		TopicFamily{Pattern: "displays/pairings", Kind: "pairings", Owner: "displays"})
	for topic, kind := range map[string]string{"displays/7": "display", "displays/pairings": "pairings"} {
		if f, ok := tp.Lookup(topic); !ok || f.Kind != kind {
			t.Errorf("Lookup(%s) = %q, %v; want the most specific family, %q", topic, f.Kind, ok, kind)
		}
	}
	if f, ok := tp.Lookup("commune/x1/kpi"); !ok || f.Kind != "kpi" {
		t.Errorf("Lookup(commune/x1/kpi) = %+v, %v", f, ok)
	}
	if _, ok := tp.Lookup("commune/x1/devices"); ok {
		t.Error("Lookup found a family for an undeclared topic")
	}
	if f, ok := tp.Kind("kpi_history"); !ok || f.Pattern != "commune/+/kpi/history" {
		t.Errorf("Kind(kpi_history) = %+v, %v", f, ok)
	}
}

// A strict bus (tests) refuses a topic no feature declared; in production
// the event is still delivered, and counted and logged.
func TestBusCountsAndStrictlyRefusesUndeclaredTopics(t *testing.T) {
	tp := NewTopics(nil)
	tp.MustDeclare(TopicFamily{Pattern: "commune/+/kpi", Kind: "kpi", Owner: "backlog"})
	for _, strict := range []bool{true, false} {
		m := NewMetrics()
		b := NewBus(BusOptions{Topics: tp, Strict: strict, Metrics: m})
		sub, err := b.Subscribe([]string{"#"}, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish("commune/x1/kpi", map[string]int{"n": 1}); err != nil {
			t.Fatalf("strict=%v: a declared topic: %v", strict, err)
		}
		_, err = b.Publish("commune/x1/typo", map[string]int{"n": 1})
		if strict && (err == nil || !strings.Contains(err.Error(), "no feature declared it")) {
			t.Errorf("strict bus published an undeclared topic: err = %v", err)
		}
		if !strict && err != nil {
			t.Errorf("non-strict bus refused an undeclared topic: %v", err)
		}
		delivered := b.PublishEvent(&Event{Topic: "meeting/1/x", Seq: 1})
		if delivered == strict {
			t.Errorf("strict=%v: PublishEvent of an undeclared topic = %v", strict, delivered)
		}
		if got := testCounter(m.BusUndeclared); got != 2 {
			t.Errorf("strict=%v: communehub_bus_undeclared_total = %v, want 2", strict, got)
		}
		want := 1
		if !strict {
			want = 3
		}
		if got := len(sub.Drain()); got != want {
			t.Errorf("strict=%v: the subscriber got %d events, want %d", strict, got, want)
		}
		sub.Close()
	}
}

// A family's Read rule is the guard of its topics on /ws.
func TestTopicsReadRuleGuardsTheEventSocket(t *testing.T) {
	var g TopicGuards
	tp := NewTopics(&g)
	tp.MustDeclare(
		TopicFamily{Pattern: "meeting/+/access", Kind: "meeting_access", Owner: "meetings",
			Read: func(_ context.Context, p *Principal, _ string) (bool, error) { return p.Is(RoleAdmin), nil }},
		TopicFamily{Pattern: "commune/+/kpi", Kind: "kpi", Owner: "backlog"},
	)
	admin, viewer := &Principal{Name: "a", Role: RoleAdmin, Kind: "user"}, &Principal{Name: "v", Role: RoleViewer, Kind: "user"}
	for _, tt := range []struct {
		p     *Principal
		topic string
		want  bool
	}{
		{admin, "meeting/1/access", true},
		{viewer, "meeting/1/access", false},
		{viewer, "commune/x1/kpi", true},
	} {
		if got, err := g.Allow(context.Background(), tt.p, tt.topic); err != nil || got != tt.want {
			t.Errorf("Allow(%s, %s) = %v, %v; want %v", tt.p.Name, tt.topic, got, err, tt.want)
		}
	}
}
