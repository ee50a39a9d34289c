package meetings

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

// An invite link (/meetings/{id}?invite=TOKEN) is used once: the request
// that redeems it marks it used and opens a meeting pass, a credential for
// that invitee in that meeting only (meeting_passes, 0003). The page, the
// websocket and the API of the meeting accept the pass; invite tokens
// themselves are accepted only by the page that redeems them.

// AccessGrace is how long after a meeting's planned end (its start when no
// end is planned) its invite links and meeting passes work: a link can be
// redeemed, and a pass admits, until then and no later, whenever the pass
// was opened. Both follow the meeting's current planned end, so a
// rescheduled meeting moves them. accessEnd is the same moment in SQL, for
// a meeting m.
const (
	AccessGrace = 12 * time.Hour
	accessEnd   = `coalesce(m.ends_at, m.starts_at) + interval '12 hours'`
)

// AccessEnds is when the meeting's invite links and passes stop working.
func (m *Meeting) AccessEnds() time.Time {
	end := m.StartsAt
	if m.EndsAt != nil {
		end = *m.EndsAt
	}
	return end.Add(AccessGrace)
}

// inviteState tells whether token is an invite link of meeting: the invitee
// it names and whether it was used. A token that names no invitee of the
// meeting is EForbidden naming the field invite (ENotFound when the meeting
// does not exist); a link of a meeting whose access ended is
// errLinkExpired.
func (p *Proceedings) inviteState(ctx context.Context, meetingID int64, token string) (invitee int64, used bool, err error) {
	h := sha256.Sum256([]byte(token))
	invitee, used, ends, err := inviteByLink(ctx, p.pool, meetingID, h[:])
	if errors.Is(err, pgx.ErrNoRows) {
		if _, merr := p.Meeting(ctx, meetingID); merr != nil {
			return 0, false, merr
		}
		return 0, false, &hub.Error{Code: hub.EForbidden, Field: "invite",
			Message: fmt.Sprintf("this invite link is not valid for meeting %d (replaced by a newer one, or copied incompletely); ask the secretary for a new one", meetingID)}
	}
	if err == nil && !p.now().Before(ends) {
		return invitee, used, errLinkExpired(ends)
	}
	return invitee, used, err
}

// linkExpiry is the Details of errLinkExpired.
type linkExpiry struct {
	Reason    string    `json:"reason"` // "expired"
	ExpiredAt time.Time `json:"expired_at"`
}

// errLinkExpired answers an invite link (or a pass to be opened) of a
// meeting whose access ended at ends.
func errLinkExpired(ends time.Time) error {
	return &hub.Error{Code: hub.EForbidden, Field: "invite", Details: linkExpiry{Reason: reasonExpired, ExpiredAt: ends},
		Message: fmt.Sprintf("this invite link expired at %s, %s after the meeting's planned end; invite links and meeting passes work until then",
			ends.In(vietnam).Format("15:04 02/01/2006 (UTC+7)"), "12 hours")}
}

// isLinkExpired reports whether err is errLinkExpired.
func isLinkExpired(err error) bool {
	var e *hub.Error
	if !errors.As(err, &e) {
		return false
	}
	_, ok := e.Details.(linkExpiry)
	return ok
}

// errInviteUsed answers a link that was already used.
var errInviteUsed = &hub.Error{Code: hub.EForbidden, Field: "invite",
	Message: "this invite link was already used; ask the secretary for a new one"}

// RedeemInvite uses an invite link up, as opening it in a browser does,
// and opens a pass for its invitee; it returns the pass's secret (the
// cookie value) and the invitee. Of
// concurrent redemptions exactly one wins: the others, like any later one,
// get errInviteUsed (with the invitee the link names). After the meeting's
// access ended (AccessGrace) the link is errLinkExpired.
func (p *Proceedings) RedeemInvite(ctx context.Context, meetingID int64, token string) (secret string, invitee int64, err error) {
	h := sha256.Sum256([]byte(token))
	secret = newPassSecret()
	ph := sha256.Sum256([]byte(secret))
	invitee, err = redeemLink(ctx, p.pool, meetingID, h[:], ph[:], p.now())
	if errors.Is(err, pgx.ErrNoRows) { // used, expired or not a link of this meeting: say which
		if invitee, _, err = p.inviteState(ctx, meetingID, token); err != nil {
			return "", invitee, err
		}
		return "", invitee, errInviteUsed
	}
	if err != nil {
		return "", 0, fmt.Errorf("redeem invite link: %w", err)
	}
	p.sweepPasses(ctx)
	return secret, invitee, nil
}

// openPass opens a pass for an invitee someone already vouched for (a
// redirect ticket); it returns the secret. None opens after the meeting's
// access ended (errLinkExpired).
func (p *Proceedings) openPass(ctx context.Context, meetingID, invitee int64) (string, error) {
	secret := newPassSecret()
	h := sha256.Sum256([]byte(secret))
	opened, err := insertPass(ctx, p.pool, h[:], meetingID, invitee, p.now())
	if err != nil {
		return "", fmt.Errorf("open meeting pass: %w", err)
	}
	if !opened {
		m, err := p.Meeting(ctx, meetingID)
		if err != nil {
			return "", err
		}
		return "", errLinkExpired(m.AccessEnds())
	}
	return secret, nil
}

// passInvitee returns the invitee a pass admits to meeting and when the
// pass ends; nil when it admits no one (unknown, ended, another meeting,
// or the invitee was removed).
func (p *Proceedings) passInvitee(ctx context.Context, meetingID int64, secret string) (*Invitee, time.Time, error) {
	return p.passKeyInvitee(ctx, meetingID, passKeyOf(secret))
}

// PassInvitee returns the invitee a meeting pass (the value of its
// PassCookie) admits to meeting now; nil when it admits no one.
func (p *Proceedings) PassInvitee(ctx context.Context, meetingID int64, secret string) (*Invitee, error) {
	inv, _, err := p.passInvitee(ctx, meetingID, secret)
	return inv, err
}

// passKey is what identifies a pass: the SHA-256 of its secret (the
// cookie value), as stored. nil is no pass.
type passKey []byte

// passKeyOf is the key of the pass secret; nil for "", and a key that
// matches no pass for a secret too long to be one.
func passKeyOf(secret string) passKey {
	switch {
	case secret == "":
		return nil
	case len(secret) > 128:
		return passKey{}
	}
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// passKeyInvitee is passInvitee by the pass's key.
func (p *Proceedings) passKeyInvitee(ctx context.Context, meetingID int64, key passKey) (*Invitee, time.Time, error) {
	if len(key) != sha256.Size {
		return nil, time.Time{}, nil
	}
	v, until, err := passHolder(ctx, p.pool, key, meetingID, p.now())
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("check meeting pass: %w", err)
	}
	return v, until, nil
}

// sweepPasses deletes passes that ended and will not come back; best
// effort. A pass whose end passed comes back if its meeting is moved later,
// so only the passes of a closed or cancelled meeting (which cannot move)
// go once ended, the others 30 days after.
func (p *Proceedings) sweepPasses(ctx context.Context) {
	if err := deleteEndedPasses(ctx, p.pool, p.now()); err != nil {
		p.log.Warn("meetings: sweep meeting passes", "err", err)
	}
}

// ReissueInvite gives a guest a new invite link: the old link stops
// working, and so do the passes and tickets opened with it (connections
// opened with them are closed: AccessTopic). It returns the new token,
// shown once.
func (p *Proceedings) ReissueInvite(ctx context.Context, meetingID, inviteeID int64) (inv *Invitee, token string, err error) {
	err = p.exec(ctx, meetingID, func(c *cmd) error {
		if c.m.State == MeetingClosed || c.m.State == MeetingCancelled {
			return hub.Errorf(hub.EConflict, "meeting %d is %s; invite links cannot change", meetingID, c.m.State)
		}
		inv = c.invitees[inviteeID]
		if inv == nil {
			return hub.Errorf(hub.ENotFound, "no invitee %d in meeting %d", inviteeID, meetingID)
		}
		if !inv.Guest {
			return hub.Errorf(hub.EConflict, "%s has an account and logs in; invite links are for guests", inv.Name)
		}
		token = newInviteToken()
		h := sha256.Sum256([]byte(token))
		if err := replaceInviteLink(ctx, c.tx, inviteeID, h[:]); err != nil {
			return err
		}
		return c.revokeAccess(inviteeID, RevokedReissued)
	})
	return inv, token, err
}

func newPassSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (Go 1.24+)
	return "mps_" + base64.RawURLEncoding.EncodeToString(b)
}
