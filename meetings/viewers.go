package meetings

import (
	"context"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/communehub/communehub/hub"
)

// Who may see a meeting — its record, its proceedings and log, who is in
// its media, its state on the event socket — is decided in one place,
// viewer, for the REST API and the /ws event socket alike, so the two
// cannot drift apart: hub staff (admin, officer; a user or an API token),
// an invitee by their account, or the holder of a meeting pass that still
// admits (guests). An API token is no invitee: with a staff role it sees
// every meeting, else none.

// viewer resolves who asks about meeting id: the request's principal (nil
// for none) and the meeting pass it carries (nil for none). 401 without
// either, 403 for someone neither invited nor staff or a pass that ended,
// 404 for no meeting.
func (p *Proceedings) viewer(ctx context.Context, id int64, pr *hub.Principal, pass passKey) (*asker, error) {
	a := &asker{principal: pr}
	a.staff = pr != nil && pr.Is(hub.RoleAdmin, hub.RoleOfficer)
	inv, err := p.attendeeOf(ctx, id, pr, pass)
	if err != nil && !(a.staff && hub.ErrorCode(err) == hub.EForbidden) {
		return nil, err
	}
	a.inv = inv
	return a, nil
}

// attendeeOf resolves who takes part in meeting id: a user who is invited,
// else the holder of a pass. 401 without either, 403 for a principal that
// is not invited or a pass that ended, 404 for no meeting.
func (p *Proceedings) attendeeOf(ctx context.Context, id int64, pr *hub.Principal, pass passKey) (*Invitee, error) {
	hasPass := pass != nil
	var notInvited error
	if pr != nil && pr.Kind == "user" {
		inv, err := p.InviteeForUser(ctx, id, pr.ID)
		if err == nil {
			return inv, nil
		}
		if hub.ErrorCode(err) != hub.EForbidden {
			return nil, err
		}
		notInvited = err
	}
	if hasPass {
		inv, _, err := p.passKeyInvitee(ctx, id, pass)
		if err != nil {
			return nil, err
		}
		if inv != nil {
			return inv, nil
		}
	}
	switch {
	case notInvited != nil:
		return nil, notInvited
	case !hasPass && pr == nil:
		return nil, hub.Errorf(hub.EUnauthorized, "log in, or open your invite link")
	}
	if _, err := p.Meeting(ctx, id); err != nil {
		return nil, err
	}
	if hasPass {
		return nil, &hub.Error{Code: hub.EForbidden, Field: PassCookie(id),
			Message: "your meeting pass has ended (a new link was issued, you were removed from the invitees, or the meeting is over); ask the secretary for a new invite link"}
	}
	return nil, hub.Errorf(hub.EForbidden, "you are not invited to meeting %d", id)
}

// AccessPattern matches every meeting's AccessTopic.
const AccessPattern = "meeting/+/access"

// adminOnly is the Read rule of the hub's own announcements.
func adminOnly(_ context.Context, pr *hub.Principal, _ string) (bool, error) {
	return pr.Is(hub.RoleAdmin), nil
}

// topicMeeting returns the meeting a topic (or pattern) under meeting/
// names, or 0.
func topicMeeting(topic string) int64 {
	rest, ok := strings.CutPrefix(topic, "meeting/")
	if !ok {
		return 0
	}
	seg, _, _ := strings.Cut(rest, "/")
	id, err := strconv.ParseInt(seg, 10, 64)
	if err != nil || id <= 0 {
		return 0
	}
	return id
}

// topicAllowed is the guard of meeting/{id} and the topics under it.
func (p *Proceedings) topicAllowed(ctx context.Context, pr *hub.Principal, topic string) (bool, error) {
	id := topicMeeting(topic)
	if id == 0 {
		return pr.Is(hub.RoleAdmin), nil // no meeting of ours publishes there
	}
	var err error
	if pr.Kind == hub.KindGuest { // a pass: its holder is no hub principal
		key, herr := hex.DecodeString(pr.Session)
		if herr != nil {
			return false, nil
		}
		_, err = p.viewer(ctx, id, nil, key)
	} else {
		_, err = p.viewer(ctx, id, pr, nil)
	}
	if err == nil {
		return true, nil
	}
	switch hub.ErrorCode(err) {
	case hub.ENotFound: // no such meeting (yet): staff may wait for it, as they see every meeting
		return pr.Kind != hub.KindGuest && pr.Is(hub.RoleAdmin, hub.RoleOfficer), nil
	case hub.EForbidden, hub.EUnauthorized:
		return false, nil
	}
	return false, err
}

// admitPass recognises a guest's meeting pass on /ws: the pass of the
// first meeting the topics name that the request holds one for, else of
// any meeting, that still admits. The principal's Session is the pass's
// key (hex), which topicAllowed checks again.
func (p *Proceedings) admitPass(c *fiber.Ctx) (*hub.Principal, error) {
	var ids []int64
	for _, t := range c.Context().QueryArgs().PeekMulti("topic") {
		if id := topicMeeting(string(t)); id != 0 {
			ids = append(ids, id)
		}
	}
	c.Request().Header.VisitAllCookie(func(k, _ []byte) {
		if s, ok := strings.CutPrefix(string(k), passCookiePrefix); ok {
			if id, err := strconv.ParseInt(s, 10, 64); err == nil && id > 0 {
				ids = append(ids, id)
			}
		}
	})
	seen := map[int64]bool{}
	for _, id := range ids {
		if seen[id] || len(seen) == 8 { // a browser holds a few passes
			continue
		}
		seen[id] = true
		key := passKeyOf(c.Cookies(PassCookie(id)))
		inv, _, err := p.passKeyInvitee(c.UserContext(), id, key)
		if err != nil {
			return nil, err
		}
		if inv != nil {
			return &hub.Principal{ID: inv.ID, Name: inv.Name, Kind: hub.KindGuest, Session: hex.EncodeToString(key)}, nil
		}
	}
	return nil, nil
}
