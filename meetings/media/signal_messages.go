package media

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/communehub/communehub/meetings/sfu"
)

// Limits of the signaling socket (docs/meeting-protocol.md).
const (
	maxSignalMessage = 64 << 10 // larger messages are refused with an error
	maxSignalFrame   = 1 << 20  // larger frames close the socket
)

// Signaling message types from the client (the SFU's own; proceedings
// types are listed by meetings.IsProceedingsType).
const (
	sigOffer     = "offer"
	sigAnswer    = "answer"
	sigCandidate = "candidate"
	sigMute      = "mute"
	sigQuality   = "quality"
	sigLeave     = "leave"
	sigPing      = "ping"
)

// signalMessage is one client message of the SFU's own types.
type signalMessage struct {
	Type      string            `json:"type"`
	SDP       string            `json:"sdp,omitempty"`
	Sources   map[string]string `json:"sources,omitempty"`
	Target    string            `json:"target,omitempty"`
	Candidate *sfu.Candidate    `json:"candidate,omitempty"`
	Source    string            `json:"source,omitempty"`
	Muted     *bool             `json:"muted,omitempty"`
	AudioOnly *bool             `json:"audioOnly,omitempty"`
	DataSaver *bool             `json:"dataSaver,omitempty"`
}

// signalError is a refused message: code and text go back to the client.
type signalError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *signalError) Error() string { return e.Code + ": " + e.Message }

func sigErr(code, format string, args ...any) *signalError {
	return &signalError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// messageType returns the type of a JSON object message without decoding
// the rest, so proceedings messages can be handed on untouched.
func messageType(b []byte) (string, error) {
	if len(b) > maxSignalMessage {
		return "", sigErr("too_large", "message larger than %d bytes", maxSignalMessage)
	}
	if !utf8.Valid(b) {
		return "", sigErr("invalid", "message is not UTF-8")
	}
	var env struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return "", sigErr("invalid", "message is not a JSON object with a type")
	}
	if env.Type == "" || len(env.Type) > 40 {
		return "", sigErr("invalid", "message needs a type")
	}
	return env.Type, nil
}

// parseSignal decodes and checks one of the SFU's message types.
func parseSignal(b []byte) (signalMessage, error) {
	var m signalMessage
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&m); err != nil {
		return m, sigErr("invalid", "bad %s message: %v", m.Type, err)
	}
	if d.More() {
		return m, sigErr("invalid", "trailing data after the message")
	}
	switch m.Type {
	case sigOffer:
		if m.SDP == "" {
			return m, sigErr("invalid", "offer needs sdp")
		}
		if len(m.Sources) > 16 {
			return m, sigErr("invalid", "too many sources")
		}
		for mid, s := range m.Sources {
			if len(mid) > 32 {
				return m, sigErr("invalid", "bad mid in sources")
			}
			switch sfu.Source(s) {
			case sfu.SourceMic, sfu.SourceCamera, sfu.SourceScreen:
			default:
				return m, sigErr("invalid", "source %q: want mic, camera or screen", s)
			}
		}
	case sigAnswer:
		if m.SDP == "" {
			return m, sigErr("invalid", "answer needs sdp")
		}
	case sigCandidate:
		if m.Target != sfu.TargetUp && m.Target != sfu.TargetDown {
			return m, sigErr("invalid", "candidate target must be up or down")
		}
		if m.Candidate == nil {
			return m, sigErr("invalid", "candidate missing")
		}
		if len(m.Candidate.Candidate) > 1024 {
			return m, sigErr("invalid_candidate", "candidate too long")
		}
	case sigMute:
		switch sfu.Source(m.Source) {
		case sfu.SourceMic, sfu.SourceCamera, sfu.SourceScreen:
		default:
			return m, sigErr("invalid", "mute source must be mic, camera or screen")
		}
		if m.Muted == nil {
			return m, sigErr("invalid", "mute needs muted")
		}
	case sigQuality:
		if m.AudioOnly == nil && m.DataSaver == nil {
			return m, sigErr("invalid", "quality needs audioOnly or dataSaver")
		}
	case sigLeave, sigPing:
	default:
		return m, sigErr("unknown_type", "unknown message type %q", m.Type)
	}
	return m, nil
}

// frame encodes an outgoing message: body's fields with "type" first.
func frame(msgType string, body any) []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"type":`)
	t, _ := json.Marshal(msgType)
	buf.Write(t)
	if body != nil {
		b, err := json.Marshal(body)
		if err == nil && len(b) > 2 && b[0] == '{' {
			buf.WriteByte(',')
			buf.Write(b[1:])
			return buf.Bytes()
		}
	}
	buf.WriteByte('}')
	return buf.Bytes()
}
