package meetings

// The meetings' storage: a meeting's row, read, locked for a command,
// created, changed and moved through its states, and the lists of
// meetings.

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// querier is what the reads need: the pool, or a command's transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// dbtx is what the writes need: the pool, or a command's transaction.
type dbtx interface {
	querier
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

const meetingColumns = `id, unit_code, title, starts_at, ends_at, location, online, seats, quorum_rule, pass_rule,
	state, opened_at, closed_at, last_seq, created_at`

func scanMeeting(row pgx.Row) (*Meeting, error) {
	var m Meeting
	err := row.Scan(&m.ID, &m.Unit, &m.Title, &m.StartsAt, &m.EndsAt, &m.Location, &m.Online, &m.Seats,
		&m.QuorumRule, &m.PassRule, &m.State, &m.OpenedAt, &m.ClosedAt, &m.LastSeq, &m.CreatedAt)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// getMeeting reads a meeting; pgx.ErrNoRows when there is none.
func getMeeting(ctx context.Context, q querier, id int64) (*Meeting, error) {
	return scanMeeting(q.QueryRow(ctx, `SELECT `+meetingColumns+` FROM meetings WHERE id=$1`, id))
}

// lockMeeting reads a meeting and locks its row, which serialises the
// meeting's commands; pgx.ErrNoRows when there is none.
func lockMeeting(ctx context.Context, tx pgx.Tx, id int64) (*Meeting, error) {
	return scanMeeting(tx.QueryRow(ctx, `SELECT `+meetingColumns+` FROM meetings WHERE id=$1 FOR UPDATE`, id))
}

// insertMeeting stores a new meeting from a validated input.
func insertMeeting(ctx context.Context, tx pgx.Tx, in *MeetingInput, createdBy *int64) (*Meeting, error) {
	return scanMeeting(tx.QueryRow(ctx, `INSERT INTO meetings(unit_code, title, starts_at, ends_at, location, online, seats,
			quorum_rule, pass_rule, created_by) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING `+meetingColumns,
		in.Unit, in.Title, in.StartsAt, in.EndsAt, in.Location, *in.Online, in.Seats, in.QuorumRule, in.PassRule, createdBy))
}

// updateMeeting replaces meeting id's record with a validated input's.
func updateMeeting(ctx context.Context, tx pgx.Tx, id int64, in *MeetingInput) (*Meeting, error) {
	return scanMeeting(tx.QueryRow(ctx, `UPDATE meetings SET title=$2, starts_at=$3, ends_at=$4, location=$5,
			online=$6, seats=$7, quorum_rule=$8, pass_rule=$9, updated_at=now() WHERE id=$1 RETURNING `+meetingColumns,
		id, in.Title, in.StartsAt, in.EndsAt, in.Location, *in.Online, in.Seats, in.QuorumRule, in.PassRule))
}

func cancelMeeting(ctx context.Context, tx pgx.Tx, id int64) error {
	_, err := tx.Exec(ctx, `UPDATE meetings SET state='cancelled', updated_at=now() WHERE id=$1`, id)
	return err
}

// openMeeting marks m open at at, and sets m's state and opening time
// from the row.
func openMeeting(ctx context.Context, tx pgx.Tx, m *Meeting, at time.Time) error {
	return tx.QueryRow(ctx, `UPDATE meetings SET state='open', opened_at=$2, updated_at=now() WHERE id=$1
			RETURNING state, opened_at`, m.ID, at).Scan(&m.State, &m.OpenedAt)
}

// closeMeeting marks m closed at at, and sets m's state and closing time
// from the row.
func closeMeeting(ctx context.Context, tx pgx.Tx, m *Meeting, at time.Time) error {
	return tx.QueryRow(ctx, `UPDATE meetings SET state='closed', closed_at=$2, updated_at=now() WHERE id=$1
			RETURNING state, closed_at`, m.ID, at).Scan(&m.State, &m.ClosedAt)
}

// listMeetings lists the meetings of a unit (all units when empty) that
// start in [from, to), soonest first.
func listMeetings(ctx context.Context, q querier, unit string, from, to time.Time) ([]*Meeting, error) {
	rows, err := q.Query(ctx, `SELECT `+meetingColumns+` FROM meetings
		WHERE ($1 = '' OR unit_code = $1) AND starts_at >= $2 AND starts_at < $3 ORDER BY starts_at, id LIMIT 500`, unit, from, to)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToAddrOfStructByPos[Meeting])
}

// meetingsOfUser lists the meetings a user is invited to, from a time on.
func meetingsOfUser(ctx context.Context, q querier, userID int64, from time.Time) ([]*Meeting, error) {
	rows, err := q.Query(ctx, `SELECT `+meetingColumns+` FROM meetings
		WHERE id IN (SELECT meeting_id FROM meeting_invitees WHERE user_id=$1) AND (starts_at >= $2 OR state='open')
		ORDER BY starts_at, id LIMIT 200`, userID, from)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToAddrOfStructByPos[Meeting])
}

// meetingsToSweep lists the meetings with a log that are open or
// scheduled to start in [from, to].
func meetingsToSweep(ctx context.Context, q querier, from, to time.Time) ([]int64, error) {
	rows, err := q.Query(ctx, `SELECT id FROM meetings WHERE last_seq > 0 AND (state = 'open'
		OR (state = 'scheduled' AND starts_at BETWEEN $1 AND $2))`, from, to)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// demoMeeting returns the latest demo meeting of unit that has not closed;
// pgx.ErrNoRows when there is none.
func demoMeeting(ctx context.Context, q querier, unit, title string) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `SELECT id FROM meetings WHERE unit_code=$1 AND title=$2 AND state IN ('scheduled','open')
		ORDER BY id DESC LIMIT 1`, unit, title).Scan(&id)
	return id, err
}
