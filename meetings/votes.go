package meetings

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

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
		if err := c.tx.QueryRow(ctx, `INSERT INTO votes(meeting_id, item_id, question, secret, pass_rule, state, seats, present, opened_by, opened_at)
			VALUES ($1,$2,$3,$4,$5,'open',$6,$7,$8,$9) RETURNING id`,
			c.m.ID, item, in.Question, in.Secret, rule, c.m.Seats, present, v.ID, c.now).Scan(&id); err != nil {
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
		if _, err := c.tx.Exec(ctx, `INSERT INTO vote_voters(vote_id, invitee_id) VALUES ($1,$2)`, voteID, v.ID); err != nil {
			if strings.Contains(err.Error(), "vote_voters_pkey") {
				return hub.Errorf(hub.EConflict, "you have already voted in vote %d", voteID)
			}
			return err
		}
		col := map[string]string{ChoiceYes: "yes", ChoiceNo: "no", ChoiceAbstain: "abstain"}[choice]
		tag, err := c.tx.Exec(ctx, `UPDATE votes SET `+col+` = `+col+` + 1 WHERE id=$1 AND state='open'`, voteID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return hub.Errorf(hub.EConflict, "vote %d is closed", voteID)
		}
		ev := evVoteCast{Vote: voteID, Invitee: v.ID}
		if !vote.Secret {
			if _, err := c.tx.Exec(ctx, `INSERT INTO vote_ballots(vote_id, invitee_id, choice, cast_at) VALUES ($1,$2,$3,$4)`,
				voteID, v.ID, choice, c.now); err != nil {
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
		var yes, no, abstain, seats int
		if err := c.tx.QueryRow(ctx, `SELECT yes, no, abstain, seats FROM votes WHERE id=$1 AND state='open' FOR UPDATE`,
			voteID).Scan(&yes, &no, &abstain, &seats); err != nil {
			return err
		}
		t := vote.Rule.Evaluate(seats, presentSeats(c.st, c.invitees), yes, no, abstain)
		if _, err := c.tx.Exec(ctx, `UPDATE votes SET state='closed', present=$2, passed=$3, closed_at=$4 WHERE id=$1`,
			voteID, t.Present, t.Passed, c.now); err != nil {
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
	rows, err := p.pool.Query(ctx, `SELECT v.id, v.item_id, v.question, v.secret, v.pass_rule, v.state, v.opened_at, v.closed_at,
		v.seats, v.present, v.yes, v.no, v.abstain, coalesce(v.passed,false), (SELECT count(*) FROM vote_voters w WHERE w.vote_id=v.id)
		FROM votes v WHERE v.meeting_id=$1 ORDER BY v.id`, meetingID)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, scanVote)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Secret {
			continue
		}
		brows, err := p.pool.Query(ctx, `SELECT b.invitee_id, i.name, b.choice, b.cast_at FROM vote_ballots b
			JOIN meeting_invitees i ON i.id=b.invitee_id WHERE b.vote_id=$1 ORDER BY b.cast_at, b.invitee_id`, out[i].ID)
		if err != nil {
			return nil, err
		}
		// Appended to nil: a vote nobody voted in has no ballots, not an empty list.
		if out[i].Ballots, err = pgx.AppendRows(out[i].Ballots, brows, pgx.RowToStructByPos[Ballot]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// scanVote reads a row of Votes, with its tally when it may be shown.
func scanVote(row pgx.CollectableRow) (VoteRecord, error) {
	var r VoteRecord
	var t Tally
	if err := row.Scan(&r.ID, &r.Item, &r.Question, &r.Secret, &r.Rule, &r.State, &r.OpenedAt, &r.ClosedAt,
		&t.Seats, &t.Present, &t.Yes, &t.No, &t.Abstain, &t.Passed, &r.Voted); err != nil {
		return r, err
	}
	switch {
	case r.State == "closed":
		t.Needed = r.Rule.Evaluate(t.Seats, t.Present, t.Yes, t.No, t.Abstain).Needed
		r.Result = &t
	case !r.Secret:
		t.Passed = false
		r.Result = &t
	}
	return r, nil
}
