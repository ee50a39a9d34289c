package meetings

// The invitees' storage: meeting_invitees rows with their user, and the
// users an invitation names.

import (
	"context"
	"strings"

	"github.com/communehub/communehub/hub"
	"github.com/jackc/pgx/v5"
)

const inviteeColumns = `i.id, i.meeting_id, i.user_id, coalesce(u.username,''), i.name, i.position, i.role, i.secretary,
	i.invite_hash IS NOT NULL`

func scanInvitee(row pgx.Row) (*Invitee, error) {
	var v Invitee
	if err := row.Scan(&v.ID, &v.MeetingID, &v.UserID, &v.Username, &v.Name, &v.Position, &v.Role, &v.Secretary, &v.Guest); err != nil {
		return nil, err
	}
	return &v, nil
}

// activeUser returns the id, username and display name of the active user
// with id userID, or with username when userID is 0; pgx.ErrNoRows when
// there is none.
func activeUser(ctx context.Context, tx pgx.Tx, userID int64, username string) (id int64, name, display string, err error) {
	err = tx.QueryRow(ctx, `SELECT id, username, display_name FROM users
				WHERE (id=$1 OR ($1=0 AND username=$2)) AND NOT disabled`, userID, username).Scan(&id, &name, &display)
	return id, name, display, err
}

// setDisplayName changes a user's display name (the demo's users).
func setDisplayName(ctx context.Context, q dbtx, userID int64, name string) error {
	_, err := q.Exec(ctx, `UPDATE users SET display_name=$2 WHERE id=$1`, userID, name)
	return err
}

// insertInvitee stores an invitee and returns it as read back; a guest's
// hash is its invite link's.
func insertInvitee(ctx context.Context, tx pgx.Tx, meetingID int64, userID *int64, in *InviteeInput, role InviteeRole, hash []byte) (*Invitee, error) {
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO meeting_invitees(meeting_id, user_id, name, position, role, secretary, invite_hash)
			VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING id`, meetingID, userID, in.Name, in.Position, role, in.Secretary, hash).Scan(&id)
	if err != nil {
		return nil, inviteConflict(err)
	}
	return scanInvitee(tx.QueryRow(ctx, `SELECT `+inviteeColumns+` FROM meeting_invitees i
			LEFT JOIN users u ON u.id=i.user_id WHERE i.id=$1`, id))
}

// deleteInvitee removes an invitee of a meeting; false when there was none.
func deleteInvitee(ctx context.Context, tx pgx.Tx, meetingID, inviteeID int64) (bool, error) {
	tag, err := tx.Exec(ctx, `DELETE FROM meeting_invitees WHERE id=$1 AND meeting_id=$2`, inviteeID, meetingID)
	return tag.RowsAffected() != 0, err
}

// inviteConflict names the rule a refused invitee broke.
func inviteConflict(err error) error {
	s := err.Error()
	switch {
	case strings.Contains(s, "meeting_invitees_one_chair"):
		return hub.Errorf(hub.EConflict, "the meeting already has a chair")
	case strings.Contains(s, "meeting_invitees_one_secretary"):
		return hub.Errorf(hub.EConflict, "the meeting already has a secretary")
	case strings.Contains(s, "meeting_invitees_meeting_id_user_id_key"):
		return hub.Errorf(hub.EConflict, "this user is already invited")
	}
	return err
}

func loadInvitees(ctx context.Context, q querier, meetingID int64) ([]*Invitee, error) {
	rows, err := q.Query(ctx, `SELECT `+inviteeColumns+` FROM meeting_invitees i LEFT JOIN users u ON u.id=i.user_id
		WHERE i.meeting_id=$1 ORDER BY array_position(ARRAY['chair','member','guest','observer'], i.role), i.id`, meetingID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToAddrOfStructByPos[Invitee])
}

// inviteeOfUser returns the user's invitee record in a meeting;
// pgx.ErrNoRows when the user is not invited.
func inviteeOfUser(ctx context.Context, q querier, meetingID, userID int64) (*Invitee, error) {
	return scanInvitee(q.QueryRow(ctx, `SELECT `+inviteeColumns+` FROM meeting_invitees i
		LEFT JOIN users u ON u.id=i.user_id WHERE i.meeting_id=$1 AND i.user_id=$2`, meetingID, userID))
}
