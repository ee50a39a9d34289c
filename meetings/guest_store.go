package meetings

// The guests' storage: invite links (meeting_invitees.invite_hash) and
// meeting passes (meeting_passes), each valid until accessEnd.

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// inviteByLink reads the invite link with hash of a meeting: its invitee,
// whether it was used and when its meeting's access ends; pgx.ErrNoRows
// when it names no invitee of the meeting.
func inviteByLink(ctx context.Context, q querier, meetingID int64, hash []byte) (invitee int64, used bool, ends time.Time, err error) {
	err = q.QueryRow(ctx, `SELECT i.id, i.invite_used_at IS NOT NULL, `+accessEnd+` FROM meeting_invitees i
		JOIN meetings m ON m.id = i.meeting_id
		WHERE i.meeting_id=$1 AND i.invite_hash=$2`, meetingID, hash).Scan(&invitee, &used, &ends)
	return invitee, used, ends, err
}

// redeemLink marks the unused invite link with hash used and opens a pass
// with passHash for its invitee, in one statement, so that of concurrent
// redemptions one wins; pgx.ErrNoRows when the link is used, its meeting's
// access ended at now, or it names no invitee of the meeting.
func redeemLink(ctx context.Context, q querier, meetingID int64, hash, passHash []byte, now time.Time) (int64, error) {
	var invitee int64
	err := q.QueryRow(ctx, `WITH won AS (
			UPDATE meeting_invitees i SET invite_used_at = now() FROM meetings m
			WHERE i.meeting_id=$1 AND i.invite_hash=$2 AND i.invite_used_at IS NULL
			  AND m.id = i.meeting_id AND $4 < `+accessEnd+` RETURNING i.id, i.meeting_id)
		INSERT INTO meeting_passes(pass_hash, meeting_id, invitee_id) SELECT $3, meeting_id, id FROM won
		RETURNING invitee_id`, meetingID, hash, passHash, now).Scan(&invitee)
	return invitee, err
}

// insertPass opens a pass with hash for an invitee; false when the
// meeting's access ended at now (or there is no such meeting).
func insertPass(ctx context.Context, q dbtx, hash []byte, meetingID, invitee int64, now time.Time) (bool, error) {
	tag, err := q.Exec(ctx, `INSERT INTO meeting_passes(pass_hash, meeting_id, invitee_id)
		SELECT $1, m.id, $3 FROM meetings m WHERE m.id = $2 AND $4 < `+accessEnd, hash, meetingID, invitee, now)
	return tag.RowsAffected() != 0, err
}

// passHolder returns the invitee the pass with key admits to meeting at
// now and when the pass ends; pgx.ErrNoRows when it admits no one.
func passHolder(ctx context.Context, q querier, key passKey, meetingID int64, now time.Time) (*Invitee, time.Time, error) {
	var until time.Time
	v, err := scanInvitee(rowAnd{q.QueryRow(ctx, `SELECT `+inviteeColumns+`, `+accessEnd+` FROM meeting_passes s
		JOIN meetings m ON m.id = s.meeting_id
		JOIN meeting_invitees i ON i.id = s.invitee_id AND i.meeting_id = s.meeting_id
		LEFT JOIN users u ON u.id = i.user_id
		WHERE s.pass_hash=$1 AND s.meeting_id=$2 AND $3 < `+accessEnd, []byte(key), meetingID, now), []any{&until}})
	return v, until, err
}

// rowAnd scans a row into the destinations given to Scan, then into more.
type rowAnd struct {
	pgx.Row
	more []any
}

func (r rowAnd) Scan(dest ...any) error { return r.Row.Scan(append(dest, r.more...)...) }

// deleteEndedPasses deletes the passes that ended at now and will not
// come back (see sweepPasses).
func deleteEndedPasses(ctx context.Context, q dbtx, now time.Time) error {
	_, err := q.Exec(ctx, `DELETE FROM meeting_passes s USING meetings m
		WHERE m.id = s.meeting_id AND $1 >= `+accessEnd+`
		  AND (m.state IN ('closed','cancelled') OR $1 >= `+accessEnd+` + interval '30 days')`, now)
	return err
}

// replaceInviteLink gives an invitee the invite link with hash, unused, and
// deletes the passes and media tickets opened with the old one.
func replaceInviteLink(ctx context.Context, tx pgx.Tx, inviteeID int64, hash []byte) error {
	if _, err := tx.Exec(ctx, `UPDATE meeting_invitees SET invite_hash=$2, invite_used_at=NULL WHERE id=$1`, inviteeID, hash); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM meeting_passes WHERE invitee_id=$1`, inviteeID); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `DELETE FROM meeting_media_tickets WHERE invitee_id=$1`, inviteeID)
	return err
}
