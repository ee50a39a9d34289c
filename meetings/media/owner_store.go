package media

// The media's storage: which instance carries each meeting's media
// (meeting_media_owner) and the one-time tickets (meeting_media_tickets).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// owners records which instance carries each meeting's media
// (meeting_media_owner) and issues one-time tickets.
type owners struct {
	pool     *pgxpool.Pool
	instance string
	baseURL  string
	stale    time.Duration
}

// claim makes this instance the owner of meeting id unless a live owner
// exists. It returns the owner's instance id and base URL.
func (o *owners) claim(ctx context.Context, id int64) (instance, baseURL string, err error) {
	err = o.pool.QueryRow(ctx, `
		INSERT INTO meeting_media_owner (meeting_id, instance_id, base_url) VALUES ($1, $2, $3)
		ON CONFLICT (meeting_id) DO UPDATE
			SET instance_id = EXCLUDED.instance_id, base_url = EXCLUDED.base_url, heartbeat_at = now(),
			    claimed_at = CASE WHEN meeting_media_owner.instance_id = EXCLUDED.instance_id
			                      THEN meeting_media_owner.claimed_at ELSE now() END
			WHERE meeting_media_owner.instance_id = EXCLUDED.instance_id
			   OR meeting_media_owner.heartbeat_at < now() - make_interval(secs => $4)
		RETURNING instance_id, base_url`, id, o.instance, o.baseURL, o.stale.Seconds()).Scan(&instance, &baseURL)
	if errors.Is(err, pgx.ErrNoRows) {
		err = o.pool.QueryRow(ctx, `SELECT instance_id, base_url FROM meeting_media_owner WHERE meeting_id = $1`, id).
			Scan(&instance, &baseURL)
		if errors.Is(err, pgx.ErrNoRows) { // released in between: try again once
			return o.claim(ctx, id)
		}
	}
	if err != nil {
		return "", "", fmt.Errorf("claim meeting %d media: %w", id, err)
	}
	return instance, baseURL, nil
}

// heartbeat refreshes this instance's claims on ids.
func (o *owners) heartbeat(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := o.pool.Exec(ctx, `UPDATE meeting_media_owner SET heartbeat_at = now()
		WHERE instance_id = $1 AND meeting_id = ANY($2)`, o.instance, ids)
	return err
}

// release gives up the claim on id (its room is empty).
func (o *owners) release(ctx context.Context, id int64) error {
	_, err := o.pool.Exec(ctx, `DELETE FROM meeting_media_owner WHERE meeting_id = $1 AND instance_id = $2`, id, o.instance)
	return err
}

// releaseAll drops every claim of this instance (start-up after a crash,
// shutdown).
func (o *owners) releaseAll(ctx context.Context) error {
	_, err := o.pool.Exec(ctx, `DELETE FROM meeting_media_owner WHERE instance_id = $1`, o.instance)
	return err
}

// owner returns the instance that owns meeting id and its base URL;
// pgx.ErrNoRows when none does.
func (o *owners) owner(ctx context.Context, id int64) (instance, baseURL string, err error) {
	err = o.pool.QueryRow(ctx, `SELECT instance_id, base_url FROM meeting_media_owner WHERE meeting_id=$1`, id).Scan(&instance, &baseURL)
	return instance, baseURL, err
}

// insertTicket stores a ticket's hash, admitting invitee to meeting for ttl.
func (o *owners) insertTicket(ctx context.Context, hash []byte, meeting, invitee int64, ttl time.Duration) error {
	_, err := o.pool.Exec(ctx, `INSERT INTO meeting_media_tickets (ticket_hash, meeting_id, invitee_id, expires_at)
		VALUES ($1, $2, $3, now() + make_interval(secs => $4))`, hash, meeting, invitee, ttl.Seconds())
	return err
}

// takeTicket deletes the live ticket with hash for meeting and returns the
// invitee it admits; pgx.ErrNoRows when there is none.
func (o *owners) takeTicket(ctx context.Context, hash []byte, meeting int64) (int64, error) {
	var invitee int64
	err := o.pool.QueryRow(ctx, `DELETE FROM meeting_media_tickets
		WHERE ticket_hash = $1 AND meeting_id = $2 AND expires_at > now() RETURNING invitee_id`, hash, meeting).Scan(&invitee)
	return invitee, err
}

// sweepTickets deletes expired tickets.
func (o *owners) sweepTickets(ctx context.Context) error {
	_, err := o.pool.Exec(ctx, `DELETE FROM meeting_media_tickets WHERE expires_at < now()`)
	return err
}
