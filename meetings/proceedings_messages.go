package meetings

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/communehub/communehub/hub"
)

// ProcMessage is a proceedings message from a participant, over the meeting
// websocket or POST /api/v1/meetings/{id}/proceedings. Type says which
// fields matter; docs/meeting-protocol.md ("Proceedings") lists them.
type ProcMessage struct {
	Type     string `json:"type"`
	Ref      string `json:"ref,omitempty"` // echoed in the reply
	Item     int64  `json:"item,omitempty"`
	Doc      int64  `json:"doc,omitempty"`
	Version  int    `json:"version,omitempty"`
	Page     int    `json:"page,omitempty"`
	Invitee  int64  `json:"invitee,omitempty"`
	Vote     int64  `json:"vote,omitempty"`
	Choice   string `json:"choice,omitempty"`
	Question string `json:"question,omitempty"`
	Secret   bool   `json:"secret,omitempty"`
	Rule     string `json:"rule,omitempty"`
	Status   string `json:"status,omitempty"`
	Mode     string `json:"mode,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Text     string `json:"text,omitempty"`
	Revision int    `json:"revision,omitempty"`
}

// procPrefixes are the message type families proceedings own.
var procPrefixes = []string{"proc.", "meeting.", "agenda.", "doc.", "hand.", "floor.", "vote.", "attendance.", "minutes."}

// IsProceedingsType reports whether a websocket message type belongs to the
// proceedings, so the signaling connection hands it to ProcSession.Handle.
func IsProceedingsType(t string) bool {
	for _, p := range procPrefixes {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

// procTypes lists every accepted message type with the fields it needs.
var procTypes = map[string][]string{
	"proc.sync":        nil,
	"meeting.open":     nil,
	"meeting.close":    nil,
	"agenda.open":      {"item"},
	"doc.show":         {"doc", "page"},
	"hand.raise":       nil,
	"hand.lower":       nil,
	"floor.give":       {"invitee"},
	"floor.end":        nil,
	"vote.open":        {"question"},
	"vote.cast":        {"vote", "choice"},
	"vote.close":       {"vote"},
	"attendance.join":  nil,
	"attendance.leave": nil,
	"attendance.mark":  {"invitee", "status"},
	"minutes.redraft":  {"revision"},
	"minutes.save":     {"revision", "text"},
	"minutes.approve":  {"revision"},
}

// ParseProcMessage decodes and checks a proceedings message: a JSON object
// with a known type, no unknown fields, and the fields the type needs.
func ParseProcMessage(b []byte) (ProcMessage, error) {
	var m ProcMessage
	if err := hub.DecodeJSON(b, &m); err != nil {
		return m, err
	}
	need, ok := procTypes[m.Type]
	if !ok {
		return m, hub.FieldError("type", "unknown proceedings message type %q", m.Type)
	}
	if len(m.Ref) > 64 {
		return m, hub.FieldError("ref", "at most 64 characters")
	}
	for _, f := range need {
		missing := false
		switch f {
		case "item":
			missing = m.Item <= 0
		case "doc":
			missing = m.Doc <= 0
		case "page":
			missing = m.Page <= 0
		case "invitee":
			missing = m.Invitee <= 0
		case "vote":
			missing = m.Vote <= 0
		case "choice":
			missing = m.Choice == ""
		case "question":
			missing = strings.TrimSpace(m.Question) == ""
		case "status":
			missing = m.Status == ""
		case "revision":
			missing = m.Revision <= 0
		case "text":
			missing = m.Text == ""
		}
		if missing {
			return m, hub.FieldError(f, "is required for %s", m.Type)
		}
	}
	if m.Version < 0 || m.Page < 0 || m.Item < 0 || m.Doc < 0 || m.Invitee < 0 || m.Vote < 0 || m.Revision < 0 {
		return m, hub.FieldError("body", "ids, versions, pages and revisions are positive numbers")
	}
	return m, nil
}

// Do runs a parsed message as the invitee who sent it and returns the
// result to reply with: the participant view for proc.sync, else a small
// object ({"seq"}, plus "vote" or "tally" or "revision" where relevant).
func (p *Proceedings) Do(ctx context.Context, who *Invitee, m ProcMessage) (any, error) {
	var err error
	out := map[string]any{}
	switch m.Type {
	case "proc.sync":
		return p.View(ctx, who.MeetingID, who)
	case "meeting.open":
		err = p.OpenMeeting(ctx, who)
	case "meeting.close":
		err = p.CloseMeeting(ctx, who)
	case "agenda.open":
		err = p.OpenItem(ctx, who, m.Item)
	case "doc.show":
		err = p.ShowDoc(ctx, who, m.Doc, m.Version, m.Page)
	case "hand.raise":
		err = p.RaiseHand(ctx, who)
	case "hand.lower":
		err = p.LowerHand(ctx, who, m.Invitee)
	case "floor.give":
		err = p.GiveFloor(ctx, who, m.Invitee)
	case "floor.end":
		err = p.EndFloor(ctx, who)
	case "vote.open":
		var id int64
		id, err = p.OpenVote(ctx, who, VoteInput{Question: m.Question, Secret: m.Secret, Rule: m.Rule})
		out["vote"] = id
	case "vote.cast":
		err = p.CastVote(ctx, who, m.Vote, m.Choice)
	case "vote.close":
		var t *Tally
		t, err = p.CloseVote(ctx, who, m.Vote)
		out["tally"] = t
	case "attendance.join":
		err = p.Join(ctx, who, m.Mode)
	case "attendance.leave":
		err = p.Leave(ctx, who)
	case "attendance.mark":
		err = p.MarkAttendance(ctx, who, m.Invitee, m.Status, m.Reason)
	case "minutes.redraft":
		err = p.RedraftMinutes(ctx, who, m.Revision)
	case "minutes.save":
		var rev int
		rev, err = p.SaveMinutes(ctx, who, m.Revision, m.Text)
		out["revision"] = rev
	case "minutes.approve":
		var s *SignedMinutes
		s, err = p.ApproveMinutes(ctx, who, m.Revision)
		if s != nil {
			out["sha256"], out["signature"], out["key_id"] = s.SHA256, s.Signature, s.KeyID
		}
	default:
		err = hub.FieldError("type", "unknown proceedings message type %q", m.Type)
	}
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if st := p.cache[who.MeetingID]; st != nil {
		out["seq"] = st.Seq
	}
	p.mu.Unlock()
	return out, nil
}

// replyFrame encodes a reply: {"type":"proc.ok"|"proc.state","ref",…} or
// {"type":"proc.error","ref","error":{code,message,field}}.
func replyFrame(typ, ref string, body any, err error) []byte {
	if err != nil {
		var e *hub.Error
		if !errors.As(err, &e) {
			e = &hub.Error{Code: hub.EInternal, Message: "internal error"}
		}
		b, _ := json.Marshal(struct {
			Type  string     `json:"type"`
			Ref   string     `json:"ref,omitempty"`
			Error *hub.Error `json:"error"`
		}{"proc.error", ref, e})
		return b
	}
	b, _ := json.Marshal(struct {
		Type string `json:"type"`
		Ref  string `json:"ref,omitempty"`
		Body any    `json:"body"`
	}{typ, ref, body})
	return b
}
