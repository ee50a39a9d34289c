package displays

import (
	"encoding/json"
	"strconv"
	"time"
)

// Server messages. Every one has "type" and "seq": for an event, the topic's
// seq; for the others, the screen's position (the sum of its topics' seqs;
// 0 while a screen is unpaired).

// eventFrame encodes {"type":"event","topic","seq","time","data"}, the same
// shape as hub.Event.Frame, for a payload that was redacted.
func eventFrame(topic string, seq uint64, t time.Time, data []byte) []byte {
	b := make([]byte, 0, len(data)+len(topic)+96)
	b = append(b, `{"type":"event","topic":`...)
	b = strconv.AppendQuote(b, topic)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"time":"`...)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","data":`...)
	if len(data) == 0 {
		data = []byte("null")
	}
	b = append(b, data...)
	return append(b, '}')
}

// topicState is one topic in a snapshot.
type topicState struct {
	Seq  uint64          `json:"seq"`
	Time *time.Time      `json:"time"` // when its latest event was published; null before the first
	Data json.RawMessage `json:"data"` // its full state; null before the first event
}

// welcome is the common part of snapshot and resumed.
type welcome struct {
	Type       string             `json:"type"` // snapshot or resumed
	Seq        uint64             `json:"seq"`
	Epoch      string             `json:"epoch"`
	Build      string             `json:"build"`
	ServerTime time.Time          `json:"server_time"`
	Heartbeat  float64            `json:"heartbeat"`     // seconds between pings, both ways
	Spread     float64            `json:"reload_spread"` // seconds over which screens spread a build reload
	Window     int                `json:"window"`        // messages the hub sends past the page's last "read" count
	Display    *Display           `json:"display"`
	StaleAfter map[string]float64 `json:"stale_after"` // topic → seconds after which its tiles are stale

	Topics map[string]topicState `json:"topics,omitempty"` // snapshot: every topic of the layout
	Events []json.RawMessage     `json:"events,omitempty"` // resumed: the missed events, in order
}

type pingMsg struct {
	Type string    `json:"type"`
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
}

type commandMsg struct {
	Type    string          `json:"type"`
	Seq     uint64          `json:"seq"`
	ID      int64           `json:"id"`
	Command string          `json:"command"`
	Args    json.RawMessage `json:"args,omitempty"`
}

type pairingMsg struct {
	Type      string    `json:"type"`
	Seq       uint64    `json:"seq"`
	Code      string    `json:"code"`
	ExpiresAt time.Time `json:"expires_at"`
	Build     string    `json:"build"`
	Heartbeat float64   `json:"heartbeat"`
}

type pairedMsg struct {
	Type      string `json:"type"`
	Seq       uint64 `json:"seq"`
	DisplayID int64  `json:"display_id"`
	Name      string `json:"name"`
}

func decodeLenient(b []byte, v any) error { return json.Unmarshal(b, v) }
