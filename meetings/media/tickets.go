package media

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/communehub/communehub/hub"
)

// Ticket lifetimes: a redirect is followed at once; a rejoin ticket lets a
// participant who came with a ticket reconnect after a dropped link.
const (
	redirectTicketTTL = 2 * time.Minute
	rejoinTicketTTL   = 12 * time.Hour
)

// newTicket stores a one-time ticket admitting invitee to meeting.
func (o *owners) newTicket(ctx context.Context, meeting, invitee int64, ttl time.Duration) (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	t := base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(t))
	if err := o.insertTicket(ctx, h[:], meeting, invitee, ttl); err != nil {
		return "", fmt.Errorf("store ticket: %w", err)
	}
	return t, nil
}

// useTicket consumes a ticket and returns the invitee it admits.
func (o *owners) useTicket(ctx context.Context, meeting int64, ticket string) (int64, error) {
	if ticket == "" || len(ticket) > 64 {
		return 0, hub.Errorf(hub.EForbidden, "invalid ticket")
	}
	h := sha256.Sum256([]byte(ticket))
	invitee, err := o.takeTicket(ctx, h[:], meeting)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, hub.Errorf(hub.EForbidden, "this ticket is not valid (used, expired or for another meeting)")
	}
	if err != nil {
		return 0, fmt.Errorf("use ticket: %w", err)
	}
	return invitee, nil
}
