package meetings

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/communehub/communehub/hub"
)

// Snapshot is the data of the meeting/{id} topic: the meeting as the wall
// and the tiles show it (docs/topics.md).
type Snapshot struct {
	ID           int64        `json:"id"`
	Unit         string       `json:"unit"`
	Title        string       `json:"title"`
	State        string       `json:"state"`
	Participants []SnapPerson `json:"participants"`
	Speaker      *SnapSpeaker `json:"speaker"`
	AgendaItem   *SnapItem    `json:"agenda_item"`
	Vote         *SnapVote    `json:"vote"`
	Quorum       SnapQuorum   `json:"quorum"`
	Queue        []SnapPerson `json:"queue"`
}

// SnapPerson is a participant on the snapshot.
type SnapPerson struct {
	ID       int64       `json:"id"`
	Name     string      `json:"name"`
	Position string      `json:"position,omitempty"`
	Role     InviteeRole `json:"role"`
	Status   string      `json:"status"`
}

// SnapSpeaker is who has the floor.
type SnapSpeaker struct {
	ID    int64     `json:"id"`
	Name  string    `json:"name"`
	Since time.Time `json:"since"`
}

// SnapItem is the current agenda item.
type SnapItem struct {
	ID       int64  `json:"id"`
	Position int    `json:"position"`
	Title    string `json:"title"`
	Of       int    `json:"of"` // number of items
}

// SnapVote is the open vote, or the last one closed on the current item.
// A secret vote shows only how many have voted until it closes.
type SnapVote struct {
	ID       int64  `json:"id"`
	Question string `json:"question"`
	Secret   bool   `json:"secret"`
	Open     bool   `json:"open"`
	Voted    int    `json:"voted"`
	Eligible int    `json:"eligible"`
	Result   *Tally `json:"result"`
}

// SnapQuorum is the presence of seat holders against the quorum.
type SnapQuorum struct {
	Seats   int        `json:"seats"`
	Present int        `json:"present"`
	Rule    QuorumRule `json:"rule"`
	Quorate bool       `json:"quorate"`
}

// presentSeats counts the seat holders present.
func presentSeats(st *ProcState, invitees map[int64]*Invitee) int {
	n := 0
	for id, v := range invitees {
		if v.Votes() && present(st.StatusOf(id)) {
			n++
		}
	}
	return n
}

func snapshot(c *cmd) Snapshot {
	st := c.st
	s := Snapshot{ID: c.m.ID, Unit: c.m.Unit, Title: c.m.Title, State: c.m.State, Participants: []SnapPerson{}, Queue: []SnapPerson{}}
	for _, v := range sortedInvitees(c.invitees) {
		if status := st.StatusOf(v.ID); present(status) {
			s.Participants = append(s.Participants, SnapPerson{ID: v.ID, Name: v.Name, Position: v.Position, Role: v.Role, Status: status})
		}
	}
	for _, q := range st.Queue() {
		if v := c.invitees[q.Invitee]; v != nil {
			s.Queue = append(s.Queue, SnapPerson{ID: v.ID, Name: v.Name, Position: v.Position, Role: v.Role, Status: st.StatusOf(v.ID)})
		}
	}
	if f := st.Floor; f != nil {
		name := ""
		if v := c.invitees[f.Invitee]; v != nil {
			name = v.Name
		}
		s.Speaker = &SnapSpeaker{ID: f.Invitee, Name: name, Since: f.From}
	}
	for _, it := range c.agenda {
		if it.ID == st.CurrentItem {
			s.AgendaItem = &SnapItem{ID: it.ID, Position: it.Position, Title: it.Title, Of: len(c.agenda)}
		}
	}
	var vote *VoteState
	if vote = st.OpenVote(); vote == nil && len(st.Votes) > 0 {
		if last := st.Votes[len(st.Votes)-1]; last.Item == st.CurrentItem {
			vote = last
		}
	}
	if vote != nil {
		sv := &SnapVote{ID: vote.ID, Question: vote.Question, Secret: vote.Secret, Open: vote.Open, Voted: len(vote.Voters),
			Result: vote.Result}
		for id, v := range c.invitees {
			if v.Votes() && present(st.StatusOf(id)) {
				sv.Eligible++
			}
		}
		if vote.Open && !vote.Secret {
			t := vote.Rule.Evaluate(c.m.Seats, sv.Eligible, 0, 0, 0)
			for _, ch := range vote.Ballots {
				switch ch {
				case ChoiceYes:
					t.Yes++
				case ChoiceNo:
					t.No++
				case ChoiceAbstain:
					t.Abstain++
				}
			}
			t = vote.Rule.Evaluate(c.m.Seats, sv.Eligible, t.Yes, t.No, t.Abstain)
			t.Passed = false // not decided while open
			sv.Result = &t
		}
		s.Vote = sv
	}
	s.Quorum = SnapQuorum{Seats: c.m.Seats, Present: presentSeats(st, c.invitees), Rule: c.m.QuorumRule}
	s.Quorum.Quorate = c.m.QuorumRule.Quorate(s.Quorum.Seats, s.Quorum.Present)
	return s
}

// UnitMeetings is the data of commune/{code}/meetings.
type UnitMeetings struct {
	Unit string       `json:"unit"`
	Now  *UnitMeeting `json:"now"`
	Next *UnitMeeting `json:"next"`
}

// UnitMeeting is one meeting on the unit topic.
type UnitMeeting struct {
	ID        int64      `json:"id"`
	Title     string     `json:"title"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	StartsAt  *time.Time `json:"starts_at,omitempty"`
}

// nextWindow is how long after its start time a scheduled meeting that has
// not opened still shows as "next".
const nextWindow = 2 * time.Hour

// publishUnit writes commune/{unit}/meetings (province/{unit}/meetings for a
// province) to the outbox when it differs from the last value written.
func (p *Proceedings) publishUnit(ctx context.Context, tx pgx.Tx, unit string) error {
	u, err := unitMeetings(ctx, tx, unit, p.now())
	if err != nil {
		return err
	}
	raw, err := json.Marshal(u)
	if err != nil {
		return err
	}
	level, err := unitLevel(ctx, tx, unit)
	if err != nil {
		return err
	}
	topic := unitTopic(unit, level)
	last, err := lastWritten(ctx, tx, topic)
	if err != nil {
		return err
	}
	if last != nil && jsonEqual(last, raw) {
		return nil
	}
	return hub.WriteEvent(ctx, tx, topic, json.RawMessage(raw))
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}

// RefreshUnits republishes now/next for every unit with a meeting around
// now, so "next" moves on as time passes. The hub runs it every minute.
func (p *Proceedings) RefreshUnits(ctx context.Context) error {
	now := p.now()
	units, err := unitsWithMeetings(ctx, p.pool, now.Add(-nextWindow-time.Hour), now.Add(30*24*time.Hour))
	if err != nil {
		return err
	}
	for _, u := range units {
		if err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error { return p.publishUnit(ctx, tx, u) }); err != nil {
			return err
		}
	}
	return nil
}
