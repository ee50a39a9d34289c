package meetings

// The votes' storage: votes with their tallies, who voted (vote_voters)
// and the ballots of named votes (vote_ballots).

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// insertVote opens a vote and returns its id.
func insertVote(ctx context.Context, tx pgx.Tx, m *Meeting, item *int64, in *VoteInput, rule PassRule, present int, by int64, at time.Time) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO votes(meeting_id, item_id, question, secret, pass_rule, state, seats, present, opened_by, opened_at)
			VALUES ($1,$2,$3,$4,$5,'open',$6,$7,$8,$9) RETURNING id`,
		m.ID, item, in.Question, in.Secret, rule, m.Seats, present, by, at).Scan(&id)
	return id, err
}

// insertVoter records that an invitee voted.
func insertVoter(ctx context.Context, tx pgx.Tx, voteID, inviteeID int64) error {
	_, err := tx.Exec(ctx, `INSERT INTO vote_voters(vote_id, invitee_id) VALUES ($1,$2)`, voteID, inviteeID)
	return err
}

// countChoice adds one to an open vote's tally of choice; false when the
// vote is not open.
func countChoice(ctx context.Context, tx pgx.Tx, voteID int64, choice string) (bool, error) {
	col := map[string]string{ChoiceYes: "yes", ChoiceNo: "no", ChoiceAbstain: "abstain"}[choice]
	tag, err := tx.Exec(ctx, `UPDATE votes SET `+col+` = `+col+` + 1 WHERE id=$1 AND state='open'`, voteID)
	return tag.RowsAffected() == 1, err
}

// insertBallot records a named ballot.
func insertBallot(ctx context.Context, tx pgx.Tx, voteID, inviteeID int64, choice string, at time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO vote_ballots(vote_id, invitee_id, choice, cast_at) VALUES ($1,$2,$3,$4)`,
		voteID, inviteeID, choice, at)
	return err
}

// lockTally reads an open vote's counts and locks its row.
func lockTally(ctx context.Context, tx pgx.Tx, voteID int64) (yes, no, abstain, seats int, err error) {
	err = tx.QueryRow(ctx, `SELECT yes, no, abstain, seats FROM votes WHERE id=$1 AND state='open' FOR UPDATE`,
		voteID).Scan(&yes, &no, &abstain, &seats)
	return yes, no, abstain, seats, err
}

// closeVoteRow closes a vote with its result.
func closeVoteRow(ctx context.Context, tx pgx.Tx, voteID int64, t *Tally, at time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE votes SET state='closed', present=$2, passed=$3, closed_at=$4 WHERE id=$1`,
		voteID, t.Present, t.Passed, at)
	return err
}

// listVotes lists a meeting's votes with the ballots of named ones.
func listVotes(ctx context.Context, q querier, meetingID int64) ([]VoteRecord, error) {
	rows, err := q.Query(ctx, `SELECT v.id, v.item_id, v.question, v.secret, v.pass_rule, v.state, v.opened_at, v.closed_at,
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
		brows, err := q.Query(ctx, `SELECT b.invitee_id, i.name, b.choice, b.cast_at FROM vote_ballots b
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
