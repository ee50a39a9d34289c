package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/communehub/communehub/hub/hubtest/deadline"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, topic string
		want           bool
	}{
		{"commune/03244/kpi", "commune/03244/kpi", true},
		{"commune/03244/kpi", "commune/03244/devices", false},
		{"commune/+/kpi", "commune/03244/kpi", true},
		{"commune/+/kpi", "commune/03244/x/kpi", false},
		{"commune/#", "commune/03244/kpi", true},
		{"commune/#", "province/11/kpi", false},
		{"#", "meeting/7", true},
		{"commune/+", "commune/03244/kpi", false},
		{"commune/03244", "commune/03244/kpi", false},
		{"commune/03244/kpi/x", "commune/03244/kpi", false},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.topic); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.topic, got, tt.want)
		}
	}
}

func TestValidTopic(t *testing.T) {
	for _, ok := range []string{"commune/03244/kpi", "meeting/12", "a.b-c_d"} {
		if !ValidTopic(ok) {
			t.Errorf("ValidTopic(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", "/x", "x/", "a//b", "a/+/b", "a/#", "a b", "ä"} {
		if ValidTopic(bad) {
			t.Errorf("ValidTopic(%q) = true", bad)
		}
	}
	if ValidPattern("a/#/b") || !ValidPattern("a/+/b") || !ValidPattern("a/#") {
		t.Error("ValidPattern wrong on wildcards")
	}
}

func recv(t *testing.T, s *Subscription) []*Event {
	t.Helper()
	select {
	case <-s.Ready():
		return s.Drain()
	case <-time.After(deadline.Timeout(time.Second)):
		t.Fatal("no event within 1s")
		return nil
	}
}

func TestPublishSequencesPerTopic(t *testing.T) {
	b := NewBus(BusOptions{})
	sub, err := b.Subscribe([]string{"commune/+/kpi"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for i := 0; i < 3; i++ {
		if _, err := b.Publish("commune/03244/kpi", map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Publish("commune/03199/kpi", map[string]int{"n": 9}); err != nil {
		t.Fatal(err)
	}
	b.Publish("province/11/kpi", 1) // not matched
	evs := recv(t, sub)
	if len(evs) != 4 {
		t.Fatalf("got %d events, want 4", len(evs))
	}
	for i, want := range []struct {
		topic string
		seq   uint64
	}{{"commune/03244/kpi", 1}, {"commune/03244/kpi", 2}, {"commune/03244/kpi", 3}, {"commune/03199/kpi", 1}} {
		if evs[i].Topic != want.topic || evs[i].Seq != want.seq {
			t.Errorf("event %d = %s#%d, want %s#%d", i, evs[i].Topic, evs[i].Seq, want.topic, want.seq)
		}
	}
	var frame struct {
		Type  string          `json:"type"`
		Topic string          `json:"topic"`
		Seq   uint64          `json:"seq"`
		Data  struct{ N int } `json:"data"`
	}
	if err := json.Unmarshal(evs[2].Frame(), &frame); err != nil {
		t.Fatalf("frame is not JSON: %v: %s", err, evs[2].Frame())
	}
	if frame.Type != "event" || frame.Topic != "commune/03244/kpi" || frame.Seq != 3 || frame.Data.N != 2 {
		t.Errorf("frame = %+v", frame)
	}
}

func TestPublishRejectsBadInput(t *testing.T) {
	b := NewBus(BusOptions{})
	if _, err := b.Publish("bad topic", 1); err == nil {
		t.Error("invalid topic accepted")
	}
	if _, err := b.Publish("a/b", json.RawMessage(`{"x":`)); err == nil {
		t.Error("invalid JSON accepted")
	}
	if _, err := b.Subscribe([]string{"a/#/b"}, 0); err == nil {
		t.Error("invalid pattern accepted")
	}
	if b.Seq("a/b") != 0 {
		t.Error("rejected publish advanced the sequence")
	}
}

func TestSlowSubscriberDroppedPublisherNeverBlocks(t *testing.T) {
	m := NewMetrics()
	b := NewBus(BusOptions{Metrics: m})
	slow, _ := b.Subscribe([]string{"t/x"}, 4096)
	fast, _ := b.Subscribe([]string{"t/x"}, 1<<20)
	defer fast.Close()
	payload := make([]byte, 500)
	for i := range payload {
		payload[i] = 'a'
	}
	data, _ := json.Marshal(string(payload))
	done := make(chan struct{})
	go func() {
		for i := 0; i < 100; i++ {
			b.Publish("t/x", json.RawMessage(data))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(deadline.Timeout(2 * time.Second)):
		t.Fatal("Publish blocked on a subscriber that does not read")
	}
	select {
	case <-slow.Done():
	default:
		t.Fatal("slow subscriber not dropped")
	}
	if slow.Err() != ErrSlowSubscriber {
		t.Errorf("slow.Err() = %v", slow.Err())
	}
	if n := len(fast.Drain()); n != 100 {
		t.Errorf("fast subscriber got %d events, want 100", n)
	}
	if got := testCounter(m.BusDropped); got != 1 {
		t.Errorf("dropped counter = %v, want 1", got)
	}
}

func TestSinceReplaysOrReportsGap(t *testing.T) {
	b := NewBus(BusOptions{History: 4})
	for i := 1; i <= 6; i++ {
		b.Publish("t/x", i)
	}
	evs, ok := b.Since("t/x", 3)
	if !ok || len(evs) != 3 || evs[0].Seq != 4 || evs[2].Seq != 6 {
		t.Fatalf("Since(3) = %d events ok=%v", len(evs), ok)
	}
	if _, ok := b.Since("t/x", 1); ok {
		t.Error("Since(1) claimed a full replay although events 2 was evicted")
	}
	if evs, ok := b.Since("t/x", 6); !ok || len(evs) != 0 {
		t.Error("Since(current) should be an empty, complete replay")
	}
	if _, ok := b.Since("t/x", 9); ok {
		t.Error("Since(future seq) must be a gap (client from another history)")
	}
	if b.Latest("t/x").Seq != 6 {
		t.Error("Latest wrong")
	}
}

func TestPublishEventDeduplicatesAndDetectsGaps(t *testing.T) {
	b := NewBus(BusOptions{})
	mk := func(seq uint64) *Event { return &Event{Topic: "t/x", Seq: seq, Data: json.RawMessage(`1`)} }
	if !b.PublishEvent(mk(1)) || !b.PublishEvent(mk(2)) {
		t.Fatal("in-order events refused")
	}
	if b.PublishEvent(mk(2)) || b.PublishEvent(mk(1)) {
		t.Error("duplicate accepted")
	}
	if !b.PublishEvent(mk(5)) {
		t.Fatal("jump refused")
	}
	if _, ok := b.Since("t/x", 2); ok {
		t.Error("replay across a sequence gap must be refused")
	}
}

func TestSubscriptionCloseReleasesEverything(t *testing.T) {
	b := NewBus(BusOptions{})
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, _ := b.Subscribe([]string{fmt.Sprintf("t/%d", i%7), "u/#"}, 0)
			b.Publish(fmt.Sprintf("t/%d", i%7), i)
			s.Close()
			s.Close()
		}()
	}
	wg.Wait()
	b.mu.Lock()
	left := len(b.exact) + len(b.patterns)
	b.mu.Unlock()
	if left != 0 {
		t.Errorf("%d subscriber index entries left after close", left)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Errorf("goroutines %d → %d", before, n)
	}
}

func BenchmarkPublishFanout1000(b *testing.B) {
	bus := NewBus(BusOptions{})
	subs := make([]*Subscription, 1000)
	for i := range subs {
		subs[i], _ = bus.Subscribe([]string{"commune/03244/kpi"}, 1<<30)
	}
	data := json.RawMessage(`{"open":12,"overdue":3}`)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bus.Publish("commune/03244/kpi", data)
		if i%100 == 0 {
			for _, s := range subs {
				s.Drain()
			}
		}
	}
}

func TestOriginAllowed(t *testing.T) {
	tests := []struct {
		origin, host string
		list         []string
		want         bool
	}{
		{"", "hub:8080", nil, true},
		{"http://hub:8080", "hub:8080", nil, true},
		{"http://HUB:8080", "hub:8080", nil, true},
		{"http://hub:9090", "hub:8080", nil, false},
		{"http://evil.example", "hub:8080", nil, false},
		{"null", "hub:8080", nil, false},
		{"https://wall.commune.vn", "hub:8080", []string{"https://wall.commune.vn/"}, true},
		{"http://hub:8080", "hub:8080", []string{"https://wall.commune.vn"}, false},
	}
	for _, tt := range tests {
		if got := OriginAllowed(tt.origin, tt.host, tt.list); got != tt.want {
			t.Errorf("OriginAllowed(%q, %q, %v) = %v", tt.origin, tt.host, tt.list, got)
		}
	}
}

// Follow hands events to its handler; when the bus drops the subscription
// for falling behind it subscribes again to the same topics, says so to
// resync, and goes on; it ends with ctx and closes what it holds.
func TestFollowResubscribesAfterADrop(t *testing.T) {
	m := NewMetrics()
	b := NewBus(BusOptions{Metrics: m})
	sub, _ := b.Subscribe([]string{"t/+"}, 4096)
	big, _ := json.Marshal(string(make([]byte, 3000)))
	b.Publish("t/x", json.RawMessage(big))
	b.Publish("t/x", json.RawMessage(big)) // over the bound: dropped before anyone reads
	<-sub.Done()

	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 10)
	resynced := make(chan error, 10)
	ended := make(chan error, 1)
	go func() {
		ended <- sub.Follow(ctx, func(evs []*Event) {
			for _, ev := range evs {
				got <- ev.Topic
			}
		}, func(reason error) { resynced <- reason })
	}()
	select {
	case reason := <-resynced:
		if reason != ErrSlowSubscriber {
			t.Fatalf("resync reason %v", reason)
		}
	case <-time.After(deadline.Timeout(2 * time.Second)):
		t.Fatal("no resync after the drop")
	}
	b.Publish("t/y", "after")
	b.Publish("u/y", "not followed")
	select {
	case topic := <-got:
		if topic != "t/y" {
			t.Fatalf("event on %s", topic)
		}
	case <-time.After(deadline.Timeout(2 * time.Second)):
		t.Fatal("no event after subscribing again")
	}
	cancel()
	if err := <-ended; err != nil {
		t.Fatalf("Follow: %v", err)
	}
	b.mu.Lock()
	open := len(b.patterns)
	b.mu.Unlock()
	if open != 0 {
		t.Errorf("%d subscriptions left open", open)
	}
}
