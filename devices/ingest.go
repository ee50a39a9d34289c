package devices

import (
	"context"
	"sync"
	"time"
)

// ingest is the one path every MQTT message takes, whichever broker it
// came through: topic → payload → state (status reaches the bus at once)
// → the writer's queue (telemetry).
type ingest struct {
	st       *state
	w        *writer
	sp       *spool // embedded broker with a data dir: telemetry is made durable here before its ack
	m        *metrics
	rl       *rejectLog
	telegraf string
	maxAge   time.Duration
	units    map[string]bool // known commune codes; nil accepts any well-formed code
	now      func() time.Time

	mu      sync.Mutex
	rejects map[string]int64
}

func (in *ingest) reject(reason, topic string, size int) {
	in.m.rejected.WithLabelValues(reason).Inc()
	in.rl.log1(reason, topic, size)
	in.mu.Lock()
	if in.rejects == nil {
		in.rejects = map[string]int64{}
	}
	in.rejects[reason]++
	in.mu.Unlock()
}

func (in *ingest) rejectCounts() map[string]int64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[string]int64, len(in.rejects))
	for k, v := range in.rejects {
		out[k] = v
	}
	return out
}

// handle processes one message. ack acknowledges it to the broker (nil for
// a message that gets no acknowledgement: QoS 0, a will); it is called once
// the message is safe: at once for one without telemetry (or rejected),
// after the spool's fsync when the hub spools, else after the row's commit.
// With block, a full queue (or spool) holds the caller until there is room;
// without, it does not wait. Either way false means the telemetry was not
// taken: the message must stay unacknowledged so that it is delivered again.
func (in *ingest) handle(ctx context.Context, topic string, payload []byte, ack func(), block bool) bool {
	return in.take(ctx, topic, payload, ack, block, false)
}

// handleQueued is handle for a source whose unacknowledged messages are
// never delivered again (a clean session): its telemetry is queued even
// over the bound, which the broker's in-flight window keeps small.
func (in *ingest) handleQueued(topic string, payload []byte, ack func()) {
	in.take(context.Background(), topic, payload, ack, false, true)
}

func (in *ingest) take(ctx context.Context, topic string, payload []byte, ack func(), block, over bool) bool {
	ti, reason := parseTopic(topic, in.telegraf)
	if reason == "" && ti.kind != kindSysDropped && in.units != nil && !in.units[ti.unit] {
		reason = "unknown_unit"
	}
	if reason == "" && ti.kind != kindSysDropped && !in.st.accepts(ti.unit, ti.device) {
		reason = "too_many_devices"
	}
	var msg *message
	if reason == "" {
		msg, reason = parsePayload(ti, payload, in.now(), in.maxAge)
	}
	if reason != "" {
		in.reject(reason, topic, len(payload))
		if ack != nil {
			ack() // never redeliver garbage
		}
		return true
	}
	in.m.messages.WithLabelValues(ti.kind.String()).Inc()
	samples := in.st.apply(msg)
	if ti.kind == kindSysDropped {
		in.m.brokerDrop.Set(float64(msg.dropped))
	}
	if len(samples) == 0 {
		if ack != nil {
			ack()
		}
		return true
	}
	if in.sp != nil {
		return in.sp.add(ctx, samples, ack)
	}
	it := item{samples: samples, ack: ack}
	if over {
		in.w.enqueueOver(it)
		return true
	}
	if block {
		// false only when the hub is stopping: the caller must then not
		// acknowledge, so that the publisher keeps the message.
		return in.w.enqueue(ctx, it)
	}
	if !in.w.tryEnqueue(it) {
		in.m.deferred.Inc()
		return false
	}
	return true
}
