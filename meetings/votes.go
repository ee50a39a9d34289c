package meetings

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/communehub/communehub/hub"
)

// Ballot choices: Đồng ý / Không đồng ý / Không biểu quyết.
const (
	ChoiceYes     = "yes"
	ChoiceNo      = "no"
	ChoiceAbstain = "abstain"
)

// VoteInput opens a vote.
type VoteInput struct {
	Question string `json:"question"`
	Secret   bool   `json:"secret"`
	Rule     string `json:"rule"` // empty: the meeting's pass rule
}

// OpenVote opens a vote on the current agenda item (the chair). It needs a
// quorum of seat holders present. It returns the vote's id.
func (p *Proceedings) OpenVote(ctx context.Context, who *Invitee, in VoteInput) (int64, error) {
	in.Question = strings.TrimSpace(in.Question)
	if in.Question == "" || utf8.RuneCountInString(in.Question) > 1000 {
		return 0, hub.FieldError("question", "is required, at most 1000 characters")
	}
	var rule PassRule
	if in.Rule != "" {
		r, err := ParsePassRule(in.Rule)
		if err != nil {
			return 0, hub.FieldError("rule", "%v", err)
		}
		rule = r
	}
	var id int64
	err := p.exec(ctx, who.MeetingID, func(c *cmd) error {
		v, err := c.chair(who, "open a vote")
		if err != nil {
			return err
		}
		if err := c.mustBeOpen(); err != nil {
			return err
		}
		if ov := c.st.OpenVote(); ov != nil {
			return hub.Errorf(hub.EConflict, "vote %d is still open", ov.ID)
		}
		if rule == "" {
			rule = c.m.PassRule
		}
		present := presentSeats(c.st, c.invitees)
		if !c.m.QuorumRule.Quorate(c.m.Seats, present) {
			return &hub.Error{Code: hub.EUnprocessable,
				Message: "no quorum: " + strconv.Itoa(present) + " of " + strconv.Itoa(c.m.Seats) + " seats present (rule " + string(c.m.QuorumRule) + ")",
				Details: map[string]any{"present": present, "seats": c.m.Seats, "rule": c.m.QuorumRule}}
		}
		var item *int64
		if c.st.CurrentItem != 0 {
			item = &c.st.CurrentItem
		}
		if id, err = insertVote(ctx, c.tx, c.m, item, &in, rule, present, v.ID, c.now); err != nil {
			return err
		}
		return c.emit(EvVoteOpened, v.ID, evVoteOpened{Vote: id, Item: c.st.CurrentItem, Question: in.Question,
			Secret: in.Secret, Rule: rule, Seats: c.m.Seats, Present: present})
	})
	return id, err
}

// CastVote records a member's vote. A member votes once; a secret ballot
// only adds to the tallies, with nothing that records who cast it.
func (p *Proceedings) CastVote(ctx context.Context, who *Invitee, voteID int64, choice string) error {
	if choice != ChoiceYes && choice != ChoiceNo && choice != ChoiceAbstain {
		return hub.FieldError("choice", "must be yes, no or abstain")
	}
	return p.exec(ctx, who.MeetingID, func(c *cmd) error {
		v, err := c.actor(who)
		if err != nil {
			return err
		}
		vote := c.st.Vote(voteID)
		if vote == nil {
			return hub.FieldError("vote", "no vote %d in meeting %d", voteID, c.m.ID)
		}
		if !vote.Open {
			return hub.Errorf(hub.EConflict, "vote %d is closed", voteID)
		}
		if !v.Votes() {
			return hub.Errorf(hub.EForbidden, "only the chair and members vote; you are invited as %s", v.Role)
		}
		if !present(c.st.StatusOf(v.ID)) {
			return hub.Errorf(hub.EForbidden, "you are not recorded as present")
		}
		if vote.voted[v.ID] {
			return hub.Errorf(hub.EConflict, "you have already voted in vote %d", voteID)
		}
		if err := insertVoter(ctx, c.tx, voteID, v.ID); err != nil {
			if strings.Contains(err.Error(), "vote_voters_pkey") {
				return hub.Errorf(hub.EConflict, "you have already voted in vote %d", voteID)
			}
			return err
		}
		counted, err := countChoice(ctx, c.tx, voteID, choice)
		if err != nil {
			return err
		}
		if !counted {
			return hub.Errorf(hub.EConflict, "vote %d is closed", voteID)
		}
		ev := evVoteCast{Vote: voteID, Invitee: v.ID}
		if !vote.Secret {
			if err := insertBallot(ctx, c.tx, voteID, v.ID, choice, c.now); err != nil {
				return err
			}
			ev.Choice = choice
		}
		return c.emit(EvVoteCast, v.ID, ev)
	})
}

// CloseVote closes the open vote (the chair), counts it under its rule and
// publishes the result.
func (p *Proceedings) CloseVote(ctx context.Context, who *Invitee, voteID int64) (*Tally, error) {
	var out *Tally
	err := p.exec(ctx, who.MeetingID, func(c *cmd) error {
		v, err := c.chair(who, "close a vote")
		if err != nil {
			return err
		}
		vote := c.st.Vote(voteID)
		if vote == nil {
			return hub.FieldError("vote", "no vote %d in meeting %d", voteID, c.m.ID)
		}
		if !vote.Open {
			return hub.Errorf(hub.EConflict, "vote %d is already closed", voteID)
		}
		yes, no, abstain, seats, err := lockTally(ctx, c.tx, voteID)
		if err != nil {
			return err
		}
		t := vote.Rule.Evaluate(seats, presentSeats(c.st, c.invitees), yes, no, abstain)
		if err := closeVoteRow(ctx, c.tx, voteID, &t, c.now); err != nil {
			return err
		}
		out = &t
		return c.emit(EvVoteClosed, v.ID, evVoteClosed{Vote: voteID, Tally: t})
	})
	return out, err
}

// VoteRecord is a vote as stored, for the API. Ballots are listed for named
// votes only.
type VoteRecord struct {
	ID       int64      `json:"id"`
	Item     *int64     `json:"item"`
	Question string     `json:"question"`
	Secret   bool       `json:"secret"`
	Rule     PassRule   `json:"rule"`
	State    string     `json:"state"`
	OpenedAt time.Time  `json:"opened_at"`
	ClosedAt *time.Time `json:"closed_at"`
	Voted    int        `json:"voted"`
	Result   *Tally     `json:"result"` // closed votes; open named votes show their running count
	Ballots  []Ballot   `json:"ballots,omitempty"`
}

// Ballot is one named ballot.
type Ballot struct {
	Invitee int64     `json:"invitee"`
	Name    string    `json:"name"`
	Choice  string    `json:"choice"`
	At      time.Time `json:"at"`
}

// Votes lists a meeting's votes. The tallies of an open secret vote are
// not shown.
func (p *Proceedings) Votes(ctx context.Context, meetingID int64) ([]VoteRecord, error) {
	return listVotes(ctx, p.pool, meetingID)
}
