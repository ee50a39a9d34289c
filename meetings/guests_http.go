package meetings

import (
	"context"
	_ "embed"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/communehub/communehub/hub"
)

// invitePage is the page at an invite link: "join" (the link is good: the
// page redeems it by POST, so a link preview that fetches the URL does not
// use it up), or why it cannot be used (used, expired, invalid, ended,
// ticket).
// Vietnamese by default, English switch; the reason is a data attribute.
//
//go:embed web/invite.html
var invitePage string

// Reasons shown by invitePage, with their HTTP status.
const (
	reasonJoin    = "join"    // 200: redeem the link
	reasonUsed    = "used"    // 410: the link was used
	reasonExpired = "expired" // 410: the meeting's access ended (AccessGrace after its planned end)
	reasonInvalid = "invalid" // 403 (404: no such meeting): not a link of this meeting
	reasonEnded   = "ended"   // 403: the pass this browser holds no longer admits
	reasonTicket  = "ticket"  // 403: a redirect ticket that was used or expired
)

// PassCookie is the name of the cookie that holds the meeting pass of
// meeting id: one name per meeting, so that passes for two meetings live
// side by side in one browser.
func PassCookie(meetingID int64) string {
	return passCookiePrefix + strconv.FormatInt(meetingID, 10)
}

const passCookiePrefix = "communehub_meeting_"

// TicketFunc uses a redirect ticket up and returns the invitee it admits.
type TicketFunc func(ctx context.Context, meetingID int64, ticket string) (*Invitee, error)

// MeetingPage serves a meeting page (html at /meetings/{id}+suffix) to the
// people of the meeting. With ?invite=TOKEN, GET shows the join page and
// POST redeems the link; with ?ticket=T (when tickets is set) the ticket is
// redeemed at once. Either way the browser gets the meeting pass cookie and
// is sent to the same URL without the token. Without a token the page is
// served to a logged-in user or the holder of a pass; others go to login.
// secure sets the Secure flag of the pass cookie.
func (p *Proceedings) MeetingPage(html []byte, suffix string, secure bool, tickets TicketFunc) fiber.Handler {
	g := &pageGate{p: p, secure: secure, tickets: tickets}
	return func(c *fiber.Ctx) error {
		id, err := paramID(c, "id")
		if err != nil {
			return err
		}
		noStore(c)
		clean := cleanPageURL("/meetings/"+strconv.FormatInt(id, 10)+suffix, string(c.Request().URI().QueryString()))
		switch {
		case c.Query("invite") != "":
			return g.link(c, id, c.Query("invite"), clean)
		case c.Method() == fiber.MethodPost:
			return hub.FieldError("invite", "missing: POST redeems an invite link")
		case c.Query("ticket") != "" && tickets != nil:
			return g.ticket(c, id, c.Query("ticket"), clean)
		}
		pass, err := p.passOf(c, id)
		if err != nil {
			return err
		}
		switch {
		case pass != nil && pass.inv != nil:
			setPassCookie(c, id, pass.secret, pass.until.Sub(p.now()), secure) // follows a rescheduled meeting
		case pass != nil:
			clearPassCookie(c, id, secure)
			if hub.PrincipalOf(c) == nil {
				return sendInvitePage(c, fiber.StatusForbidden, reasonEnded)
			}
		case hub.PrincipalOf(c) == nil:
			return c.Redirect("/login?next="+url.QueryEscape(c.OriginalURL()), fiber.StatusSeeOther)
		}
		return c.Type("html").Send(html)
	}
}

// pageGate turns the credentials in a meeting page's URL into a pass.
type pageGate struct {
	p       *Proceedings
	secure  bool       // the pass cookie's Secure flag
	tickets TicketFunc // nil: the page takes no tickets
}

// link answers an invite link: GET shows the join page (or why the link
// cannot be used), POST redeems it.
func (g *pageGate) link(c *fiber.Ctx, id int64, token, clean string) error {
	ctx := c.UserContext()
	var invitee int64
	var err error
	if c.Method() == fiber.MethodPost {
		origin, host := c.Get(fiber.HeaderOrigin), string(c.Request().Host())
		if !hub.OriginAllowed(origin, host, nil) && !hub.OriginAllowed(origin, host, g.p.origins) {
			return hub.Errorf(hub.EForbidden, "origin %q may not redeem invite links", origin)
		}
		var secret string
		if secret, invitee, err = g.p.RedeemInvite(ctx, id, token); err == nil {
			return g.givePass(c, id, secret, clean)
		}
	} else {
		var used bool
		if invitee, used, err = g.p.inviteState(ctx, id, token); err == nil && !used {
			return sendInvitePage(c, fiber.StatusOK, reasonJoin)
		}
		if err == nil {
			err = errInviteUsed
		}
	}
	return g.linkRefused(c, id, invitee, clean, err)
}

// ticket redeems a redirect ticket.
func (g *pageGate) ticket(c *fiber.Ctx, id int64, ticket, clean string) error {
	inv, err := g.tickets(c.UserContext(), id, ticket)
	if hub.ErrorCode(err) == hub.EForbidden {
		return sendInvitePage(c, fiber.StatusForbidden, reasonTicket)
	}
	if err != nil {
		return err
	}
	secret, err := g.p.openPass(c.UserContext(), id, inv.ID)
	if isLinkExpired(err) {
		return sendInvitePage(c, fiber.StatusGone, reasonExpired)
	}
	if err != nil {
		return err
	}
	return g.givePass(c, id, secret, clean)
}

// givePass sets the cookie of a pass just opened and sends the browser on
// to the page without the token.
func (g *pageGate) givePass(c *fiber.Ctx, id int64, secret, clean string) error {
	_, until, err := g.p.passInvitee(c.UserContext(), id, secret)
	if err != nil {
		return err
	}
	setPassCookie(c, id, secret, until.Sub(g.p.now()), g.secure)
	return c.Redirect(clean, fiber.StatusSeeOther)
}

// linkRefused answers an invite link that cannot be redeemed: 410 when it
// was used (unless this browser holds the pass it opened for the same
// invitee: then on to the page) or expired, 403 when it is not a link of this meeting,
// 404 for no meeting.
func (g *pageGate) linkRefused(c *fiber.Ctx, id, invitee int64, clean string, err error) error {
	switch {
	case errors.Is(err, errInviteUsed):
		if pass, perr := g.p.passOf(c, id); perr == nil && pass != nil && pass.inv != nil && pass.inv.ID == invitee {
			return c.Redirect(clean, fiber.StatusSeeOther)
		}
		return sendInvitePage(c, fiber.StatusGone, reasonUsed)
	case isLinkExpired(err):
		return sendInvitePage(c, fiber.StatusGone, reasonExpired)
	case hub.ErrorCode(err) == hub.ENotFound:
		return sendInvitePage(c, fiber.StatusNotFound, reasonInvalid)
	case hub.ErrorCode(err) == hub.EForbidden:
		return sendInvitePage(c, fiber.StatusForbidden, reasonInvalid)
	}
	return err
}

func sendInvitePage(c *fiber.Ctx, status int, reason string) error {
	return c.Status(status).Type("html").SendString(strings.Replace(invitePage, "{{reason}}", reason, 1))
}

// noStore keeps a page that may carry a token out of caches and out of the
// Referer of what it loads.
func noStore(c *fiber.Ctx) {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
}

// cleanPageURL is path with the query rawQuery minus the credentials
// (invite, ticket): where a page sends the browser once it holds a pass.
// Pairs that do not parse are dropped. path is the hub's own, so the
// result never leaves the site.
func cleanPageURL(path, rawQuery string) string {
	q, _ := url.ParseQuery(rawQuery)
	q.Del("invite")
	q.Del("ticket")
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// heldPass is the meeting pass a request carries; inv is nil when it no
// longer admits anyone.
type heldPass struct {
	secret string
	inv    *Invitee
	until  time.Time
}

// passOf returns the pass the request carries for meeting id, or nil.
func (p *Proceedings) passOf(c *fiber.Ctx, meetingID int64) (*heldPass, error) {
	secret := c.Cookies(PassCookie(meetingID))
	if secret == "" {
		return nil, nil
	}
	inv, until, err := p.passInvitee(c.UserContext(), meetingID, secret)
	if err != nil {
		return nil, err
	}
	return &heldPass{secret: secret, inv: inv, until: until}, nil
}

// setPassCookie gives the browser the pass for ttl, until it ends. It
// says so with Max-Age, not Expires: a relative time holds even when the
// browser's clock is wrong, as an office PC's often is.
func setPassCookie(c *fiber.Ctx, id int64, secret string, ttl time.Duration, secure bool) {
	c.Cookie(&fiber.Cookie{Name: PassCookie(id), Value: secret, Path: "/", HTTPOnly: true, Secure: secure,
		SameSite: fiber.CookieSameSiteLaxMode, MaxAge: max(1, int(ttl.Seconds()))})
}

func clearPassCookie(c *fiber.Ctx, id int64, secure bool) {
	c.Cookie(&fiber.Cookie{Name: PassCookie(id), Value: "", Path: "/", HTTPOnly: true, Secure: secure,
		SameSite: fiber.CookieSameSiteLaxMode, Expires: time.Unix(0, 0), MaxAge: -1})
}

// Attendee resolves who takes part in meeting id by this request, under the
// rule of the meetings API (see attendeeOf): its principal, and the meeting
// pass cookie it carries. The media socket admits by it.
func (p *Proceedings) Attendee(c *fiber.Ctx, id int64) (*Invitee, error) {
	return p.attendeeOf(c.UserContext(), id, hub.PrincipalOf(c), passKeyOf(c.Cookies(PassCookie(id))))
}

// RefuseInvite answers an invite token sent to a websocket or the API:
// tokens are redeemed only by opening the link, so this is always 403
// naming the field invite, saying whether the link was used.
func (p *Proceedings) RefuseInvite(ctx context.Context, id int64, token string) error {
	_, used, err := p.inviteState(ctx, id, token)
	switch {
	case err != nil:
		return err
	case used:
		return errInviteUsed
	}
	return &hub.Error{Code: hub.EForbidden, Field: "invite", Message: "an invite link is opened once, in a browser " +
		"(/meetings/" + strconv.FormatInt(id, 10) + "?invite=…), which gives a meeting pass cookie; send that cookie instead of the token"}
}

// inviteLink is the answer that carries a new invite link (shown once)
// and when it expires.
func inviteLink(m *Meeting, inv *Invitee, token string) fiber.Map {
	out := fiber.Map{"invitee": inv}
	if token != "" {
		out["invite_token"] = token
		out["invite_url"] = "/meetings/" + strconv.FormatInt(m.ID, 10) + "?invite=" + token
		out["invite_expires_at"] = m.AccessEnds()
	}
	return out
}

// handleReissue is POST /api/v1/meetings/{id}/invitees/{inv}/link.
func (p *Proceedings) handleReissue(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	invID, err := paramID(c, "inv")
	if err != nil {
		return err
	}
	inv, token, err := p.ReissueInvite(c.UserContext(), id, invID)
	if err != nil {
		return err
	}
	m, err := p.Meeting(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(inviteLink(m, inv, token))
}
