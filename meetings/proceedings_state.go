package meetings

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Event kinds of the meeting log. Each ProcEvent's Data is the JSON of the
// matching ev* struct below.
const (
	EvMeetingOpened   = "meeting.opened"     // {}
	EvMeetingClosed   = "meeting.closed"     // {}
	EvJoined          = "attendance.joined"  // evAttendance: arrived or came back (mode online or in_hall)
	EvDropped         = "attendance.dropped" // evAttendance: link lost, reconnecting for the grace period
	EvLeft            = "attendance.left"    // evAttendance: left (At: when; a drop that expired leaves at the drop)
	EvMarked          = "attendance.marked"  // evAttendance: register set by the secretary (status, reason)
	EvItemOpened      = "agenda.opened"      // evItem: the chair moves to an agenda item
	EvAgendaChanged   = "agenda.changed"     // evAgenda: the agenda as it now stands
	EvDocShown        = "doc.shown"          // evDoc: the chair shows page N of document D
	EvDocUploaded     = "doc.uploaded"       // evDocUploaded
	EvHandRaised      = "hand.raised"        // evHand
	EvHandLowered     = "hand.lowered"       // evHand
	EvFloorGiven      = "floor.given"        // evHand
	EvFloorEnded      = "floor.ended"        // evFloorEnded
	EvVoteOpened      = "vote.opened"        // evVoteOpened
	EvVoteCast        = "vote.cast"          // evVoteCast (no choice when secret)
	EvVoteClosed      = "vote.closed"        // evVoteClosed
	EvMinutesDrafted  = "minutes.drafted"    // evMinutes
	EvMinutesEdited   = "minutes.edited"     // evMinutes
	EvMinutesApproved = "minutes.approved"   // evMinutes with sha256 and key
)

// Attendance statuses of the register.
const (
	AttExpected     = "expected"     // invited, not (yet) arrived
	AttInHall       = "in_hall"      // present in the hall
	AttOnline       = "online"       // present online
	AttReconnecting = "reconnecting" // online link dropped, within the grace period
	AttAbsent       = "absent"       // absent, with a reason
	AttLeft         = "left"         // was present, has left
)

// ProcEvent is one entry of a meeting's append-only event log.
type ProcEvent struct {
	Seq   int64           `json:"seq"`
	At    time.Time       `json:"at"`
	Kind  string          `json:"kind"`
	Actor int64           `json:"actor,omitempty"` // invitee id; 0: the hub
	Data  json.RawMessage `json:"data"`
}

type evAttendance struct {
	Invitee int64      `json:"invitee"`
	Status  string     `json:"status,omitempty"` // marked: the register status
	Mode    string     `json:"mode,omitempty"`   // joined: online or in_hall
	Reason  string     `json:"reason,omitempty"`
	Since   *time.Time `json:"since,omitempty"` // left: when the link dropped
}

type evItem struct {
	Item int64 `json:"item"`
}

type evAgenda struct {
	Items []AgendaItem `json:"items"`
}

type evDoc struct {
	Doc     int64 `json:"doc"`
	Version int   `json:"version"`
	Page    int   `json:"page"`
}

type evDocUploaded struct {
	Doc      int64  `json:"doc"`
	Item     int64  `json:"item,omitempty"`
	Version  int    `json:"version"`
	Title    string `json:"title"`
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
}

type evHand struct {
	Invitee int64 `json:"invitee"`
	Item    int64 `json:"item"`
}

type evFloorEnded struct {
	Invitee int64 `json:"invitee"`
	Item    int64 `json:"item"`
	Seconds int64 `json:"seconds"`
}

type evVoteOpened struct {
	Vote     int64    `json:"vote"`
	Item     int64    `json:"item"`
	Question string   `json:"question"`
	Secret   bool     `json:"secret"`
	Rule     PassRule `json:"rule"`
	Seats    int      `json:"seats"`
	Present  int      `json:"present"`
}

type evVoteCast struct {
	Vote    int64  `json:"vote"`
	Invitee int64  `json:"invitee"`
	Choice  string `json:"choice,omitempty"`
}

type evVoteClosed struct {
	Vote int64 `json:"vote"`
	Tally
}

type evMinutes struct {
	Revision int    `json:"revision"`
	SHA256   string `json:"sha256,omitempty"`
	KeyID    string `json:"key_id,omitempty"`
}

// Presence is one invitee's line of the attendance register.
type Presence struct {
	Status  string     `json:"status"`
	Reason  string     `json:"reason,omitempty"`
	Since   time.Time  `json:"since"`             // when the status began
	Joined  *time.Time `json:"joined,omitempty"`  // first arrival
	Left    *time.Time `json:"left,omitempty"`    // last departure
	Dropped *time.Time `json:"dropped,omitempty"` // reconnecting since
	Periods []Period   `json:"periods,omitempty"`
}

// Period is a stretch of presence in one mode (in_hall or online).
type Period struct {
	Mode string     `json:"mode"`
	From time.Time  `json:"from"`
	To   *time.Time `json:"to,omitempty"`
}

// present reports whether the status counts as present (for quorum).
func present(status string) bool {
	return status == AttInHall || status == AttOnline || status == AttReconnecting
}

// Speech is one turn at the floor.
type Speech struct {
	Invitee int64      `json:"invitee"`
	Item    int64      `json:"item"`
	From    time.Time  `json:"from"`
	To      *time.Time `json:"to,omitempty"`
}

// QueueEntry is a raised hand.
type QueueEntry struct {
	Invitee int64     `json:"invitee"`
	At      time.Time `json:"at"`
}

// VoteState is a vote as the log tells it.
type VoteState struct {
	ID       int64            `json:"id"`
	Item     int64            `json:"item"`
	Question string           `json:"question"`
	Secret   bool             `json:"secret"`
	Rule     PassRule         `json:"rule"`
	Open     bool             `json:"open"`
	OpenedAt time.Time        `json:"opened_at"`
	ClosedAt *time.Time       `json:"closed_at,omitempty"`
	Voters   []int64          `json:"voters"`            // who has voted, in no meaningful order for secret votes
	Ballots  map[int64]string `json:"ballots,omitempty"` // named votes only
	Result   *Tally           `json:"result,omitempty"`  // set when closed
	voted    map[int64]bool
}

// DocView is what the chair is showing.
type DocView struct {
	Doc     int64 `json:"doc"`
	Version int   `json:"version"`
	Page    int   `json:"page"`
}

// ProcState is the state of a meeting's proceedings: a replay of its log.
// It is not safe for concurrent use; Proceedings hands out clones.
type ProcState struct {
	Meeting     int64                  `json:"meeting"`
	Seq         int64                  `json:"seq"`
	Status      string                 `json:"status"` // scheduled, open, closed
	OpenedAt    *time.Time             `json:"opened_at,omitempty"`
	ClosedAt    *time.Time             `json:"closed_at,omitempty"`
	CurrentItem int64                  `json:"current_item"`
	ItemsOpened []int64                `json:"items_opened"` // in the order the chair opened them
	Doc         *DocView               `json:"doc"`
	Attendance  map[int64]*Presence    `json:"attendance"`
	Queues      map[int64][]QueueEntry `json:"queues"` // per agenda item (0: before any item)
	Floor       *Speech                `json:"floor"`
	Speeches    []Speech               `json:"speeches"`
	Votes       []*VoteState           `json:"votes"`
	Minutes     evMinutes              `json:"minutes"`
	Approved    bool                   `json:"minutes_approved"`
}

// NewProcState returns the state of a meeting with an empty log.
func NewProcState(meeting int64) *ProcState {
	return &ProcState{Meeting: meeting, Status: "scheduled", Attendance: map[int64]*Presence{}, Queues: map[int64][]QueueEntry{}}
}

// OpenVote returns the open vote, or nil.
func (s *ProcState) OpenVote() *VoteState {
	for _, v := range s.Votes {
		if v.Open {
			return v
		}
	}
	return nil
}

// Vote returns the vote with id, or nil.
func (s *ProcState) Vote(id int64) *VoteState {
	for _, v := range s.Votes {
		if v.ID == id {
			return v
		}
	}
	return nil
}

// Status returns an invitee's attendance status.
func (s *ProcState) StatusOf(invitee int64) string {
	if p := s.Attendance[invitee]; p != nil {
		return p.Status
	}
	return AttExpected
}

// Queue returns the raised hands for the current item, in order.
func (s *ProcState) Queue() []QueueEntry { return s.Queues[s.CurrentItem] }

func (s *ProcState) inQueue(item, invitee int64) int {
	for i, q := range s.Queues[item] {
		if q.Invitee == invitee {
			return i
		}
	}
	return -1
}

// Clone returns a deep copy.
func (s *ProcState) Clone() *ProcState {
	c := *s
	c.ItemsOpened = slices.Clone(s.ItemsOpened)
	if s.Doc != nil {
		d := *s.Doc
		c.Doc = &d
	}
	c.Attendance = make(map[int64]*Presence, len(s.Attendance))
	for k, p := range s.Attendance {
		q := *p
		q.Periods = slices.Clone(p.Periods)
		c.Attendance[k] = &q
	}
	c.Queues = make(map[int64][]QueueEntry, len(s.Queues))
	for k, q := range s.Queues {
		c.Queues[k] = slices.Clone(q)
	}
	if s.Floor != nil {
		f := *s.Floor
		c.Floor = &f
	}
	c.Speeches = slices.Clone(s.Speeches)
	c.Votes = make([]*VoteState, len(s.Votes))
	for i, v := range s.Votes {
		w := *v
		w.Voters = slices.Clone(v.Voters)
		w.Ballots = maps.Clone(v.Ballots)
		w.voted = maps.Clone(v.voted)
		if v.Result != nil {
			r := *v.Result
			w.Result = &r
		}
		c.Votes[i] = &w
	}
	return &c
}

// Apply advances the state by one event. Events must come in sequence; an
// event that does not fit the state (a bug or a corrupted log) is an error
// and leaves the state as it was only for the out-of-sequence check.
func (s *ProcState) Apply(ev ProcEvent) error {
	if ev.Seq != s.Seq+1 {
		return fmt.Errorf("meeting %d: event %d applied after %d", s.Meeting, ev.Seq, s.Seq)
	}
	if err := s.apply(ev); err != nil {
		return fmt.Errorf("meeting %d event %d (%s): %w", s.Meeting, ev.Seq, ev.Kind, err)
	}
	s.Seq = ev.Seq
	return nil
}

func decodeEv[T any](ev ProcEvent) (T, error) {
	var v T
	if len(ev.Data) == 0 {
		return v, nil
	}
	err := json.Unmarshal(ev.Data, &v)
	return v, err
}

func (s *ProcState) apply(ev ProcEvent) error {
	at := ev.At
	switch ev.Kind {
	case EvMeetingOpened:
		s.Status = "open"
		s.OpenedAt = &at
	case EvMeetingClosed:
		s.Status = "closed"
		s.ClosedAt = &at
		s.endFloor(at)
		for _, p := range s.Attendance {
			if present(p.Status) {
				s.leave(p, at)
			}
		}
	case EvJoined, EvDropped, EvLeft, EvMarked:
		d, err := decodeEv[evAttendance](ev)
		if err != nil {
			return err
		}
		s.applyAttendance(ev.Kind, d, at)
	case EvItemOpened:
		d, err := decodeEv[evItem](ev)
		if err != nil {
			return err
		}
		s.endFloor(at)
		s.CurrentItem = d.Item
		s.Doc = nil
		if !slices.Contains(s.ItemsOpened, d.Item) {
			s.ItemsOpened = append(s.ItemsOpened, d.Item)
		}
	case EvAgendaChanged, EvDocUploaded:
		// Records: kept in the log for the replay and the minutes.
	case EvDocShown:
		d, err := decodeEv[evDoc](ev)
		if err != nil {
			return err
		}
		s.Doc = &DocView{Doc: d.Doc, Version: d.Version, Page: d.Page}
	case EvHandRaised:
		d, err := decodeEv[evHand](ev)
		if err != nil {
			return err
		}
		if s.inQueue(d.Item, d.Invitee) < 0 {
			s.Queues[d.Item] = append(s.Queues[d.Item], QueueEntry{Invitee: d.Invitee, At: at})
		}
	case EvHandLowered:
		d, err := decodeEv[evHand](ev)
		if err != nil {
			return err
		}
		s.lowerHand(d.Item, d.Invitee)
	case EvFloorGiven:
		d, err := decodeEv[evHand](ev)
		if err != nil {
			return err
		}
		s.endFloor(at)
		s.lowerHand(d.Item, d.Invitee)
		s.Floor = &Speech{Invitee: d.Invitee, Item: d.Item, From: at}
	case EvFloorEnded:
		s.endFloor(at)
	case EvVoteOpened:
		d, err := decodeEv[evVoteOpened](ev)
		if err != nil {
			return err
		}
		v := &VoteState{ID: d.Vote, Item: d.Item, Question: d.Question, Secret: d.Secret, Rule: d.Rule, Open: true,
			OpenedAt: at, voted: map[int64]bool{}}
		if !d.Secret {
			v.Ballots = map[int64]string{}
		}
		s.Votes = append(s.Votes, v)
	case EvVoteCast:
		d, err := decodeEv[evVoteCast](ev)
		if err != nil {
			return err
		}
		v := s.Vote(d.Vote)
		if v == nil || !v.Open {
			return fmt.Errorf("vote %d is not open", d.Vote)
		}
		if v.voted[d.Invitee] {
			return fmt.Errorf("invitee %d voted twice in vote %d", d.Invitee, d.Vote)
		}
		v.voted[d.Invitee] = true
		v.Voters = append(v.Voters, d.Invitee)
		if !v.Secret {
			v.Ballots[d.Invitee] = d.Choice
		}
	case EvVoteClosed:
		d, err := decodeEv[evVoteClosed](ev)
		if err != nil {
			return err
		}
		v := s.Vote(d.Vote)
		if v == nil {
			return fmt.Errorf("no vote %d", d.Vote)
		}
		v.Open = false
		v.ClosedAt = &at
		t := d.Tally
		v.Result = &t
		if v.Secret {
			slices.Sort(v.Voters) // nothing about the order of secret ballots survives closing
		}
	case EvMinutesDrafted, EvMinutesEdited:
		d, err := decodeEv[evMinutes](ev)
		if err != nil {
			return err
		}
		s.Minutes = d
	case EvMinutesApproved:
		d, err := decodeEv[evMinutes](ev)
		if err != nil {
			return err
		}
		s.Minutes = d
		s.Approved = true
	default:
		return fmt.Errorf("unknown event kind %q", ev.Kind)
	}
	return nil
}

func (s *ProcState) presence(invitee int64) *Presence {
	p := s.Attendance[invitee]
	if p == nil {
		p = &Presence{Status: AttExpected}
		s.Attendance[invitee] = p
	}
	return p
}

func (s *ProcState) applyAttendance(kind string, d evAttendance, at time.Time) {
	p := s.presence(d.Invitee)
	switch kind {
	case EvJoined:
		if p.Status == AttReconnecting && d.Mode == AttOnline {
			// Back within the grace period: the same stretch of presence.
			p.Status, p.Since, p.Dropped = AttOnline, at, nil
			return
		}
		s.arrive(p, d.Mode, at)
	case EvDropped:
		if p.Status == AttOnline {
			p.Status, p.Since = AttReconnecting, at
			p.Dropped = &at
		}
	case EvLeft:
		when := at
		if d.Since != nil {
			when = *d.Since
		}
		if present(p.Status) {
			s.leave(p, when)
		}
	case EvMarked:
		switch d.Status {
		case AttInHall, AttOnline:
			s.arrive(p, d.Status, at)
		case AttAbsent, AttExpected:
			if present(p.Status) {
				s.leave(p, at)
			}
			p.Status, p.Reason, p.Since = d.Status, d.Reason, at
		}
	}
}

// arrive marks p present in mode, closing a period in another mode.
func (s *ProcState) arrive(p *Presence, mode string, at time.Time) {
	if n := len(p.Periods); n > 0 && p.Periods[n-1].To == nil {
		if p.Periods[n-1].Mode == mode {
			p.Status, p.Since, p.Dropped, p.Reason = mode, at, nil, ""
			return
		}
		p.Periods[n-1].To = &at
	}
	p.Periods = append(p.Periods, Period{Mode: mode, From: at})
	if p.Joined == nil {
		p.Joined = &at
	}
	p.Status, p.Since, p.Dropped, p.Reason = mode, at, nil, ""
}

func (s *ProcState) leave(p *Presence, at time.Time) {
	if n := len(p.Periods); n > 0 && p.Periods[n-1].To == nil {
		p.Periods[n-1].To = &at
	}
	p.Status, p.Since, p.Dropped = AttLeft, at, nil
	p.Left = &at
}

func (s *ProcState) lowerHand(item, invitee int64) {
	if i := s.inQueue(item, invitee); i >= 0 {
		s.Queues[item] = slices.Delete(s.Queues[item], i, i+1)
	}
}

func (s *ProcState) endFloor(at time.Time) {
	if s.Floor == nil {
		return
	}
	sp := *s.Floor
	sp.To = &at
	s.Speeches = append(s.Speeches, sp)
	s.Floor = nil
}
