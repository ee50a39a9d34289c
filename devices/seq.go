package devices

import "time"

// Device topics (commune/{code}/devices) are published on the local bus
// straight from memory, not through the outbox: a status change must not
// wait for PostgreSQL, and summaries are too frequent to be an outbox row
// (and a transaction) each. Their seq is therefore this process's, but it
// does not restart from 1: it starts at the process's start time, counted
// in tenths of a millisecond, and grows by one per event. A restarted hub's
// seqs are thus above the old ones (unless a topic averaged more than ten
// events per millisecond over the old process's life; publishLoop sends one
// per commune per round, at most one per PublishGap for telemetry alone).
//
// Seqs are not the same on two instances, and need not be: each instance
// computes the summary from the same inputs (docs/mqtt.md, "Several hubs
// on one database"), an event is the topic's full state, and a wall's
// resume position belongs to one process (the displays epoch): a wall that
// moves to another instance, or whose instance restarted, gets a snapshot,
// never a replay measured against another instance's seqs.

// topicSeqs numbers the device topics' events; publishLoop owns it.
type topicSeqs struct {
	base uint64
	last map[string]uint64
}

func newTopicSeqs(start time.Time) *topicSeqs {
	return &topicSeqs{base: uint64(start.UnixMicro() / 100), last: map[string]uint64{}}
}

// next returns topic's next seq.
func (q *topicSeqs) next(topic string) uint64 {
	n, ok := q.last[topic]
	if !ok {
		n = q.base
	}
	n++
	q.last[topic] = n
	return n
}
