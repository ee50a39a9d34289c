package displays

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/communehub/communehub/hub"
)

// Close codes of /ws/display, beyond the kernel's (hub/sockets.go).
const (
	CloseTryAgain = 1013 // the hub cannot check the token now (database down); retry
	CloseSlow     = hub.CloseSlow
)

// Limits on what a display may send.
const (
	maxFrame      = 64 << 10 // bytes per client message; more closes with 1009
	maxToken      = 256
	maxResume     = 64 // topics in a resume map
	maxErrors     = 20 // error strings in a rendered report
	maxErrorLen   = 500
	maxBuild      = 64
	maxUserAgent  = 300
	minPairSecret = 24
	maxPairSecret = 128
)

// Client message types.
const (
	msgHello    = "hello"
	msgPing     = "ping"
	msgRendered = "rendered"
	msgAck      = "ack"
	msgRead     = "read"
)

// clientMsg is any message a display sends; which fields are meaningful
// depends on Type (docs/display-protocol.md).
type clientMsg struct {
	Type string `json:"type"`

	// hello
	Token  string            `json:"token"`  // display token
	Pair   string            `json:"pair"`   // unpaired screen's own secret
	Epoch  string            `json:"epoch"`  // epoch the resume positions belong to
	Resume map[string]uint64 `json:"resume"` // topic → last seq applied
	Build  string            `json:"build"`  // build of the page's assets
	Agent  string            `json:"agent"`  // user agent, for the admin page

	// rendered
	Seq        uint64            `json:"seq"`         // sum of the rendered topics' seqs
	Layout     string            `json:"layout"`      // layout on screen
	Topics     map[string]uint64 `json:"topics"`      // topic → seq on screen
	Heap       int64             `json:"heap"`        // JS heap in use, bytes (0: unknown)
	Errors     []string          `json:"errors"`      // last page errors, newest last
	ErrorCount int64             `json:"error_count"` // page errors since load
	Uptime     float64           `json:"uptime"`      // seconds since page load

	// read
	N int64 `json:"n"` // messages received from the hub on this socket, in all

	// ack
	ID     int64  `json:"id"`     // command id
	OK     *bool  `json:"ok"`     // command carried out
	Result string `json:"result"` // what happened, or why not
}

// protocolError is a bad client message; the socket closes with 4400 and
// Reason.
type protocolError struct{ Reason string }

func (e *protocolError) Error() string { return e.Reason }

func badMsg(format string, args ...any) error {
	return &protocolError{Reason: fmt.Sprintf(format, args...)}
}

// parseClientMsg decodes and checks one client message. Unknown fields are
// ignored (a newer page may talk to an older hub during a roll-out); a
// malformed message, a wrong field type, an unknown type or an out-of-range
// value is a *protocolError naming what is wrong.
func parseClientMsg(b []byte) (*clientMsg, error) {
	if len(b) > maxFrame {
		return nil, badMsg("message over %d bytes", maxFrame)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, badMsg("malformed message: a JSON object is required")
	}
	var m clientMsg
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		return nil, decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badMsg("malformed message: data after the JSON object")
	}
	switch m.Type {
	case "":
		return nil, badMsg("field type: required")
	case msgHello:
		return &m, m.checkHello()
	case msgPing:
		return &m, nil
	case msgRendered:
		return &m, m.checkRendered()
	case msgRead:
		if m.N < 0 {
			return nil, badMsg("field n: a count of messages, 0 or more")
		}
		return &m, nil
	case msgAck:
		if m.ID <= 0 {
			return nil, badMsg("field id: a command id is required")
		}
		m.Result = clip(m.Result, maxErrorLen)
		return &m, nil
	}
	return nil, badMsg("unknown message type %q", clip(m.Type, 40))
}

// parseRead reads the one message a screen sends all the time, its read
// report, in the exact form the wall page and displaybench write it
// ({"type":"read","n":123}), without encoding/json: the reader handles it
// on its own shallow stack (see readAside). ok is false for anything
// else, which parseClientMsg then decodes.
func parseRead(b []byte) (m *clientMsg, ok bool) {
	const head, tail = `{"type":"read","n":`, `}`
	if len(b) <= len(head)+len(tail) || len(b) > len(head)+len(tail)+18 ||
		string(b[:len(head)]) != head || string(b[len(b)-len(tail):]) != tail {
		return nil, false
	}
	digits := b[len(head) : len(b)-len(tail)]
	if len(digits) > 1 && digits[0] == '0' {
		return nil, false // JSON has no leading zeros
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return nil, false
		}
		n = n*10 + int64(c-'0')
	}
	return &clientMsg{Type: msgRead, N: n}, true
}

func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "message"
		}
		return badMsg("field %s: wrong type (%s)", clip(field, 60), te.Value)
	case errors.As(err, &se):
		return badMsg("malformed JSON at byte %d", se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badMsg("malformed JSON: unexpected end")
	}
	return badMsg("malformed JSON")
}

func (m *clientMsg) checkHello() error {
	switch {
	case m.Token != "" && m.Pair != "":
		return badMsg("hello: send token or pair, not both")
	case m.Token == "" && m.Pair == "":
		return badMsg("hello: token (a paired screen) or pair (a new screen's secret) is required")
	case len(m.Token) > maxToken:
		return badMsg("field token: over %d characters", maxToken)
	case m.Pair != "" && (len(m.Pair) < minPairSecret || len(m.Pair) > maxPairSecret):
		return badMsg("field pair: must be %d–%d characters", minPairSecret, maxPairSecret)
	case len(m.Resume) > maxResume:
		return badMsg("field resume: over %d topics", maxResume)
	case len(m.Epoch) > 64:
		return badMsg("field epoch: over 64 characters")
	}
	for t := range m.Resume {
		if !hub.ValidTopic(t) {
			return badMsg("field resume: invalid topic %q", clip(t, 80))
		}
	}
	m.Build = clip(m.Build, maxBuild)
	m.Agent = clip(m.Agent, maxUserAgent)
	return nil
}

func (m *clientMsg) checkRendered() error {
	switch {
	case len(m.Topics) > maxResume:
		return badMsg("field topics: over %d topics", maxResume)
	case m.Heap < 0:
		return badMsg("field heap: must be ≥ 0")
	case m.ErrorCount < 0:
		return badMsg("field error_count: must be ≥ 0")
	case len(m.Errors) > maxErrors:
		return badMsg("field errors: over %d entries", maxErrors)
	}
	for t := range m.Topics {
		if !hub.ValidTopic(t) {
			return badMsg("field topics: invalid topic %q", clip(t, 80))
		}
	}
	if m.Layout != "" && !validLayout(m.Layout) {
		return badMsg("field layout: unknown layout %q", clip(m.Layout, 40))
	}
	for i, e := range m.Errors {
		m.Errors[i] = clip(e, maxErrorLen)
	}
	return nil
}

// clip shortens s to at most n bytes without splitting a UTF-8 sequence,
// and replaces invalid UTF-8.
func clip(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
