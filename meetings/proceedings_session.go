package meetings

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/communehub/communehub/hub"
)

// ProcView is everything a participant's page needs to draw the
// proceedings, at log position State.Seq: the reply to proc.sync and the
// body of GET /api/v1/meetings/{id}/proceedings.
type ProcView struct {
	Meeting   *Meeting       `json:"meeting"`
	Me        *Invitee       `json:"me"` // nil for an officer who is not invited
	Invitees  []*Invitee     `json:"invitees"`
	Agenda    []AgendaItem   `json:"agenda"`
	Documents []*Document    `json:"documents"`
	State     *ProcState     `json:"state"`
	Minutes   *MinutesStatus `json:"minutes"`
	Quorum    SnapQuorum     `json:"quorum"`
}

// MinutesStatus is where the minutes stand.
type MinutesStatus struct {
	State    string `json:"state"`
	Revision int    `json:"revision"`
}

// View builds a participant's view of a meeting. The records are read
// before the state, so the records are never older than the state.
func (p *Proceedings) View(ctx context.Context, meetingID int64, me *Invitee) (*ProcView, error) {
	v := &ProcView{Me: me}
	var err error
	if v.Invitees, err = p.Invitees(ctx, meetingID); err != nil {
		return nil, err
	}
	if v.Agenda, err = loadAgenda(ctx, p.pool, meetingID); err != nil {
		return nil, err
	}
	if v.Documents, err = p.Documents(ctx, meetingID); err != nil {
		return nil, err
	}
	if v.State, err = p.State(ctx, meetingID); err != nil {
		return nil, err
	}
	if v.Meeting, err = p.Meeting(ctx, meetingID); err != nil {
		return nil, err
	}
	if m, err := p.Minutes(ctx, meetingID); err == nil {
		v.Minutes = &MinutesStatus{State: m.State, Revision: m.Revision}
	} else if hub.ErrorCode(err) != hub.ENotFound {
		return nil, err
	}
	inv := map[int64]*Invitee{}
	for _, i := range v.Invitees {
		inv[i.ID] = i
	}
	v.Quorum = SnapQuorum{Seats: v.Meeting.Seats, Present: presentSeats(v.State, inv), Rule: v.Meeting.QuorumRule}
	v.Quorum.Quorate = v.Meeting.QuorumRule.Quorate(v.Quorum.Seats, v.Quorum.Present)
	return v, nil
}

// ProcSession is one participant's proceedings over one meeting websocket.
// The connection's loop, which owns the socket, uses it so:
//
//	s, err := proc.Attach(ctx, invitee)   // after the access check; records arrival
//	defer s.Detach(ctx, clean)             // clean leave, or a dropped link
//	for {                                  // in the single writer goroutine:
//	    select {
//	    case <-s.Ready(): for _, f := range s.Frames() { write(f) }
//	    case <-s.Done():  close 4408, the client reconnects and resyncs
//	    }
//	}
//	// and for each incoming message whose type IsProceedingsType:
//	reply, err := s.Handle(ctx, raw)       // write reply; err counts as bad input
//
// Frames are the bus events of meeting/{id}/log: {"type":"event","topic",
// "seq","data":ProcEvent}. Handle is safe to call from the reader goroutine
// while the writer drains frames.
type ProcSession struct {
	p      *Proceedings
	who    *Invitee
	sub    *hub.Subscription
	detach sync.Once
}

// ErrSessionClosed is returned by Handle after Detach.
var ErrSessionClosed = errors.New("meetings: proceedings session closed")

// Attach subscribes to the meeting's log and records the participant as
// present online (or back from reconnecting). It subscribes before anything
// else so that no event after the client's proc.sync snapshot is missed.
func (p *Proceedings) Attach(ctx context.Context, who *Invitee) (*ProcSession, error) {
	if who == nil {
		return nil, hub.Errorf(hub.EForbidden, "only invitees take part")
	}
	sub, err := p.bus.Subscribe([]string{LogTopic(who.MeetingID)}, 1<<20)
	if err != nil {
		return nil, err
	}
	s := &ProcSession{p: p, who: who, sub: sub}
	if err := p.Join(ctx, who, AttOnline); err != nil && hub.ErrorCode(err) != hub.EConflict {
		sub.Close()
		return nil, err
	}
	p.mu.Lock()
	p.conns[who.ID]++
	p.mu.Unlock()
	return s, nil
}

// Ready receives a value when frames may be waiting.
func (s *ProcSession) Ready() <-chan struct{} { return s.sub.Ready() }

// Done is closed when the session's queue overflowed (or Detach ran): the
// client must reconnect and resync with proc.sync.
func (s *ProcSession) Done() <-chan struct{} { return s.sub.Done() }

// Frames returns the queued log events as websocket frames, oldest first.
func (s *ProcSession) Frames() [][]byte {
	evs := s.sub.Drain()
	out := make([][]byte, len(evs))
	for i, ev := range evs {
		out[i] = ev.Frame()
	}
	return out
}

// Handle runs one proceedings message and returns the reply frame for the
// sender, which carries the outcome (proc.ok, proc.state or proc.error).
// err is non-nil only for bad input — a malformed message or an invalid
// field (code "invalid") — which the caller counts like any bad input; a
// refusal under the rules (already voted, not the chair, vote closed…) is
// an ordinary reply with a nil err. ErrSessionClosed means reconnect.
func (s *ProcSession) Handle(ctx context.Context, raw []byte) (reply []byte, err error) {
	select {
	case <-s.sub.Done():
		if errors.Is(s.sub.Err(), hub.ErrClosed) {
			return replyFrame("", "", nil, hub.Errorf(hub.EConflict, "session closed")), ErrSessionClosed
		}
	default:
	}
	return s.p.HandleMessage(ctx, s.who, raw)
}

// HandleMessage parses and runs one message as who; see ProcSession.Handle.
func (p *Proceedings) HandleMessage(ctx context.Context, who *Invitee, raw []byte) ([]byte, error) {
	m, err := ParseProcMessage(raw)
	if err != nil {
		p.metrics.rejected.WithLabelValues(hub.ErrorCode(err)).Inc()
		return replyFrame("", m.Ref, nil, err), err
	}
	body, err := p.Do(ctx, who, m)
	if err != nil {
		code := hub.ErrorCode(err)
		p.metrics.commands.WithLabelValues(m.Type, code).Inc()
		p.metrics.rejected.WithLabelValues(code).Inc()
		if code == hub.EInternal {
			p.log.Error("meetings: proceedings command failed", "meeting", who.MeetingID, "invitee", who.ID, "type", m.Type, "err", err)
		}
		if code != hub.EInvalid {
			return replyFrame("", m.Ref, nil, err), nil
		}
		return replyFrame("", m.Ref, nil, err), err
	}
	p.metrics.commands.WithLabelValues(m.Type, "ok").Inc()
	typ := "proc.ok"
	if m.Type == "proc.sync" {
		typ = "proc.state"
	}
	return replyFrame(typ, m.Ref, body, nil), nil
}

// Detach ends the session: a clean leave records the participant as having
// left; a dropped link makes them "reconnecting" for the grace period. While
// the participant has another session open (a second tab) nothing is recorded.
func (s *ProcSession) Detach(ctx context.Context, clean bool) {
	s.detach.Do(func() { s.detachOnce(ctx, clean) })
}

func (s *ProcSession) detachOnce(ctx context.Context, clean bool) {
	s.sub.Close()
	s.p.mu.Lock()
	s.p.conns[s.who.ID]--
	others := s.p.conns[s.who.ID]
	if others <= 0 {
		delete(s.p.conns, s.who.ID)
	}
	s.p.mu.Unlock()
	if others > 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var err error
	if clean {
		err = s.p.Leave(ctx, s.who)
	} else {
		err = s.p.Drop(ctx, s.who)
	}
	// Forbidden: the invitee was removed while connected; nothing to record.
	if err != nil && hub.ErrorCode(err) != hub.EForbidden {
		s.p.log.Warn("meetings: record departure", "meeting", s.who.MeetingID, "invitee", s.who.ID, "clean", clean, "err", err)
	}
}
