package hub

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Event is one message on a topic. Seq increases by one per topic; an Event
// is immutable once published and shared by every subscriber, so it is
// encoded once (Frame) and the same bytes go to every client.
type Event struct {
	Topic string          `json:"topic"`
	Seq   uint64          `json:"seq"`
	Time  time.Time       `json:"time"`
	Data  json.RawMessage `json:"data"`

	frameOnce sync.Once
	frame     []byte
}

// Frame returns the event encoded as the websocket message
// {"type":"event","topic":…,"seq":…,"time":…,"data":…}, computed once.
func (e *Event) Frame() []byte {
	e.frameOnce.Do(func() {
		b := make([]byte, 0, len(e.Data)+len(e.Topic)+96)
		b = append(b, `{"type":"event","topic":`...)
		b = strconv.AppendQuote(b, e.Topic)
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, e.Seq, 10)
		b = append(b, `,"time":"`...)
		b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","data":`...)
		if len(e.Data) == 0 {
			b = append(b, "null"...)
		} else {
			b = append(b, e.Data...)
		}
		b = append(b, '}')
		e.frame = b
	})
	return e.frame
}

// Size is the number of bytes the event takes in a subscriber's queue.
func (e *Event) Size() int { return len(e.Data) + len(e.Topic) + 96 }

// BusOptions configures a Bus. Zero values take the defaults.
type BusOptions struct {
	History int // events kept per topic for resume; default 256
	Logger  *slog.Logger
	Metrics *Metrics
	// Topics, when set, is the register every published topic must belong
	// to. An event outside it is counted (BusUndeclared) and its topic
	// logged once; it is still delivered, unless Strict (tests), where
	// Publish refuses it and PublishEvent drops it.
	Topics *Topics
	Strict bool
}

// Bus is the in-process event bus. Publish never blocks: each subscriber has
// a byte-bounded queue and a subscriber that falls behind is dropped (its
// Done channel closes with ErrSlowSubscriber) and counted.
type Bus struct {
	history  int
	log      *slog.Logger
	metrics  *Metrics
	register *Topics
	strict   bool

	undeclaredMu sync.Mutex
	undeclared   map[string]bool // topics logged once (at most 100)

	mu       sync.Mutex
	topics   map[string]*topicState
	exact    map[string]map[*Subscription]struct{}
	patterns map[*Subscription][]string
}

type topicState struct {
	seq  uint64
	ring []*Event // the last `history` events, oldest first
}

// NewBus returns an empty bus.
func NewBus(o BusOptions) *Bus {
	if o.History <= 0 {
		o.History = 256
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Bus{
		history:  o.History,
		register: o.Topics,
		strict:   o.Strict,
		log:      o.Logger,
		metrics:  o.Metrics,
		topics:   map[string]*topicState{},
		exact:    map[string]map[*Subscription]struct{}{},
		patterns: map[*Subscription][]string{},
	}
}

// ValidTopic reports whether t is a concrete topic: non-empty slash-separated
// segments of [A-Za-z0-9_.-], no wildcards, at most 256 bytes.
func ValidTopic(t string) bool {
	if t == "" || len(t) > 256 {
		return false
	}
	for _, seg := range strings.Split(t, "/") {
		if seg == "" {
			return false
		}
		for _, r := range seg {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
				return false
			}
		}
	}
	return true
}

// ValidPattern reports whether p is a topic or a pattern in which a segment
// "+" matches any one segment and a final "#" matches the rest.
func ValidPattern(p string) bool {
	if p == "" || len(p) > 256 {
		return false
	}
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		if seg == "+" || (seg == "#" && i == len(segs)-1) {
			continue
		}
		if !ValidTopic(seg) {
			return false
		}
	}
	return true
}

// Match reports whether topic matches pattern (see ValidPattern).
func Match(pattern, topic string) bool {
	for {
		p, prest, pmore := strings.Cut(pattern, "/")
		t, trest, tmore := strings.Cut(topic, "/")
		switch {
		case p == "#":
			return true
		case p != "+" && p != t:
			return false
		}
		if !pmore || !tmore {
			return pmore == tmore
		}
		pattern, topic = prest, trest
	}
}

// Publish assigns the next sequence number of topic, records the event for
// resume and hands it to every matching subscriber. It never blocks.
func (b *Bus) Publish(topic string, data any) (*Event, error) {
	if !ValidTopic(topic) {
		return nil, fmt.Errorf("bus: invalid topic %q", topic)
	}
	if !b.declared(topic) {
		return nil, fmt.Errorf("bus: topic %q: no feature declared it", topic)
	}
	raw, err := marshalData(data)
	if err != nil {
		return nil, fmt.Errorf("bus: encode %s: %w", topic, err)
	}
	ev := &Event{Topic: topic, Time: time.Now(), Data: raw}
	b.mu.Lock()
	ts := b.topicLocked(topic)
	ts.seq++
	ev.Seq = ts.seq
	b.appendLocked(ts, ev)
	subs := b.matchLocked(topic)
	b.mu.Unlock()
	b.deliver(subs, ev)
	return ev, nil
}

// PublishEvent publishes an event whose sequence number was assigned
// elsewhere (the outbox). It is ignored, returning false, when the topic is
// already at or past ev.Seq, so that an event followed twice is published once.
func (b *Bus) PublishEvent(ev *Event) bool {
	if !ValidTopic(ev.Topic) || !b.declared(ev.Topic) {
		return false
	}
	b.mu.Lock()
	ts := b.topicLocked(ev.Topic)
	if ev.Seq <= ts.seq {
		b.mu.Unlock()
		return false
	}
	if ev.Seq != ts.seq+1 {
		// Not contiguous: what we hold cannot be replayed across the gap.
		ts.ring = ts.ring[:0]
	}
	ts.seq = ev.Seq
	b.appendLocked(ts, ev)
	subs := b.matchLocked(ev.Topic)
	b.mu.Unlock()
	b.deliver(subs, ev)
	return true
}

// declared reports whether topic may be published: always without a
// register; with one, when a family covers it or the bus is not strict. An
// undeclared topic is counted every time and logged the first time.
func (b *Bus) declared(topic string) bool {
	if b.register == nil || b.register.Declared(topic) {
		return true
	}
	if b.metrics != nil {
		b.metrics.BusUndeclared.Inc()
	}
	b.undeclaredMu.Lock()
	// Each topic is logged once, the first 100 of them: a publisher
	// gone wrong with a topic per device must not grow the map unbounded.
	first := !b.undeclared[topic] && len(b.undeclared) < 100
	if first {
		if b.undeclared == nil {
			b.undeclared = map[string]bool{}
		}
		b.undeclared[topic] = true
	}
	b.undeclaredMu.Unlock()
	if first {
		b.log.Error("bus: event on a topic no feature declared (declare it with hub.Topics)", "topic", topic, "refused", b.strict)
	}
	return !b.strict
}

func marshalData(data any) (json.RawMessage, error) {
	switch d := data.(type) {
	case json.RawMessage:
		if !json.Valid(d) {
			return nil, fmt.Errorf("invalid JSON")
		}
		return d, nil
	case []byte:
		if !json.Valid(d) {
			return nil, fmt.Errorf("invalid JSON")
		}
		return d, nil
	default:
		return json.Marshal(data)
	}
}

func (b *Bus) topicLocked(topic string) *topicState {
	ts := b.topics[topic]
	if ts == nil {
		ts = &topicState{}
		b.topics[topic] = ts
	}
	return ts
}

func (b *Bus) appendLocked(ts *topicState, ev *Event) {
	if len(ts.ring) == b.history {
		copy(ts.ring, ts.ring[1:])
		ts.ring[len(ts.ring)-1] = ev
		return
	}
	ts.ring = append(ts.ring, ev)
}

func (b *Bus) matchLocked(topic string) []*Subscription {
	var subs []*Subscription
	for s := range b.exact[topic] {
		subs = append(subs, s)
	}
	for s, pats := range b.patterns {
		for _, p := range pats {
			if Match(p, topic) {
				subs = append(subs, s)
				break
			}
		}
	}
	return subs
}

func (b *Bus) deliver(subs []*Subscription, ev *Event) {
	if b.metrics != nil {
		b.metrics.BusPublished.Inc()
	}
	for _, s := range subs {
		if !s.push(ev) {
			b.drop(s, ErrSlowSubscriber)
		}
	}
}

// Seq returns the current sequence number of topic (0 when nothing was published).
func (b *Bus) Seq(topic string) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ts := b.topics[topic]; ts != nil {
		return ts.seq
	}
	return 0
}

// Latest returns the last event of topic, or nil.
func (b *Bus) Latest(topic string) *Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ts := b.topics[topic]; ts != nil && len(ts.ring) > 0 {
		return ts.ring[len(ts.ring)-1]
	}
	return nil
}

// Since returns the events of topic after seq, in order. ok is false when
// the bus no longer holds every one of them (a gap): the caller must then
// send a fresh snapshot instead of a replay.
func (b *Bus) Since(topic string, seq uint64) (events []*Event, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ts := b.topics[topic]
	if ts == nil {
		return nil, seq == 0
	}
	if seq >= ts.seq {
		return nil, seq == ts.seq
	}
	if len(ts.ring) == 0 || ts.ring[0].Seq > seq+1 {
		return nil, false
	}
	for _, ev := range ts.ring {
		if ev.Seq > seq {
			events = append(events, ev)
		}
	}
	return events, true
}

// Subscribe returns a subscription to the topics matching any of patterns.
// maxBytes bounds its queue (default 1 MiB); past it the subscription is
// dropped. Invalid patterns return an error naming the first one.
func (b *Bus) Subscribe(patterns []string, maxBytes int) (*Subscription, error) {
	if len(patterns) == 0 {
		return nil, fmt.Errorf("bus: no topic to subscribe to")
	}
	if maxBytes <= 0 {
		maxBytes = 1 << 20
	}
	s := &Subscription{bus: b, patterns: append([]string(nil), patterns...), maxBytes: maxBytes,
		ready: make(chan struct{}, 1), done: make(chan struct{})}
	var pats []string
	for _, p := range patterns {
		if !ValidPattern(p) {
			return nil, fmt.Errorf("bus: invalid topic %q", p)
		}
		if strings.ContainsAny(p, "+#") {
			pats = append(pats, p)
		} else {
			s.exact = append(s.exact, p)
		}
	}
	b.mu.Lock()
	for _, t := range s.exact {
		m := b.exact[t]
		if m == nil {
			m = map[*Subscription]struct{}{}
			b.exact[t] = m
		}
		m[s] = struct{}{}
	}
	if len(pats) > 0 {
		b.patterns[s] = pats
	}
	b.mu.Unlock()
	if b.metrics != nil {
		b.metrics.BusSubscribers.Inc()
	}
	return s, nil
}

func (b *Bus) drop(s *Subscription, reason error) {
	b.mu.Lock()
	for _, t := range s.exact {
		if m := b.exact[t]; m != nil {
			delete(m, s)
			if len(m) == 0 {
				delete(b.exact, t)
			}
		}
	}
	delete(b.patterns, s)
	b.mu.Unlock()
	if s.close(reason) && b.metrics != nil {
		b.metrics.BusSubscribers.Dec()
		if reason == ErrSlowSubscriber {
			b.metrics.BusDropped.Inc()
		}
	}
}
