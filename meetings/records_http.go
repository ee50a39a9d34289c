package meetings

import (
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/communehub/communehub/hub"
)

// Mount registers the records-and-proceedings API on the /api/v1 group,
// the scheduling page and the proceedings' static files on the app, and
// raises the body limit of the document upload routes.
func (p *Proceedings) Mount(r hub.Routes) {
	limit := int(min(2*p.cfg.DocMaxBytes, hub.ServerBodyLimit))
	r.AllowBody("/api/v1/meetings/*/documents", limit)
	r.AllowBody("/api/v1/meetings/*/documents/*/versions", limit)
	r.AllowBody("/api/v1/minutes/verify", maxMinutesDoc)

	api := r.API
	staff := hub.RequireRole(hub.RoleAdmin, hub.RoleOfficer)
	api.Get("/meetings", hub.RequireRole(), p.handleList)
	api.Post("/meetings", staff, p.handleCreate)
	api.Get("/meetings/:id", p.handleGet)
	api.Put("/meetings/:id", staff, p.handleUpdate)
	api.Post("/meetings/:id/cancel", staff, p.handleCancel)
	api.Post("/meetings/:id/invitees", staff, p.handleInvite)
	api.Delete("/meetings/:id/invitees/:inv", staff, p.handleUninvite)
	api.Post("/meetings/:id/invitees/:inv/link", staff, p.handleReissue)
	api.Post("/meetings/:id/agenda", staff, p.handleAddItem)
	api.Put("/meetings/:id/agenda/:item", staff, p.handleUpdateItem)
	api.Delete("/meetings/:id/agenda/:item", staff, p.handleDeleteItem)

	api.Get("/meetings/:id/documents", p.handleDocuments)
	api.Post("/meetings/:id/documents", p.handleUpload)
	api.Post("/meetings/:id/documents/:doc/versions", p.handleUpload)
	api.Get("/meetings/:id/documents/:doc/content", p.handleContent)
	api.Get("/meetings/:id/documents/:doc/versions/:v/content", p.handleContent)

	api.Get("/meetings/:id/proceedings", p.handleView)
	api.Post("/meetings/:id/proceedings", p.handleCommand)
	api.Get("/meetings/:id/events", p.handleEvents)
	api.Get("/meetings/:id/votes", p.handleVotes)

	api.Get("/meetings/:id/minutes", p.handleSignedMinutes)
	api.Get("/meetings/:id/minutes.pdf", p.handleMinutesPDF)
	api.Get("/meetings/:id/minutes/draft", p.handleDraft)
	api.Put("/meetings/:id/minutes/draft", p.handleSaveDraft)
	api.Post("/meetings/:id/minutes/approve", p.handleApprove)
	api.Get("/meetings/:id/minutes/verify", p.handleVerifyStored)
	api.Post("/minutes/verify", hub.RequireRole(), p.handleVerify)

	p.mountPages(r)
}

func paramID(c *fiber.Ctx, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Params(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, hub.FieldError(name, "must be a positive number")
	}
	return id, nil
}

// asker is who asks about a meeting: an invitee (by session or meeting
// pass), hub staff (admin, officer), or both.
type asker struct {
	inv       *Invitee
	staff     bool
	principal *hub.Principal
}

// InviteHeader is where scripts used to send a guest's invite token. Invite
// tokens are redeemed only by opening the link (a meeting pass cookie then
// stands for the guest); a token sent here or as ?invite= is refused with
// 403 naming the field invite.
const InviteHeader = "X-Meeting-Invite"

// ask resolves the asker of a meeting-scoped request; 401 without
// credentials, 403 for someone neither invited nor staff (or an invite
// token), 404 for no meeting.
func (p *Proceedings) ask(c *fiber.Ctx) (int64, *asker, error) {
	id, err := paramID(c, "id")
	if err != nil {
		return 0, nil, err
	}
	if tok := c.Get(InviteHeader, c.Query("invite")); tok != "" {
		return 0, nil, p.RefuseInvite(c.UserContext(), id, tok)
	}
	a, err := p.viewer(c.UserContext(), id, hub.PrincipalOf(c), passKeyOf(c.Cookies(PassCookie(id))))
	if err != nil {
		return 0, nil, err
	}
	return id, a, nil
}

// invitee returns the asker's invitee record, or 403 for staff who are not
// invited (proceedings are for invitees only).
func (a *asker) invitee(meetingID int64) (*Invitee, error) {
	if a.inv == nil {
		return nil, hub.Errorf(hub.EForbidden, "only invitees of meeting %d take part in its proceedings", meetingID)
	}
	return a.inv, nil
}

func (p *Proceedings) handleList(c *fiber.Ctx) error {
	pr := hub.PrincipalOf(c)
	ctx := c.UserContext()
	from, to := time.Now().AddDate(0, -1, 0), time.Now().AddDate(1, 0, 0)
	var err error
	if s := c.Query("from"); s != "" {
		if from, err = time.Parse(time.RFC3339, s); err != nil {
			return hub.FieldError("from", "must be an RFC 3339 time")
		}
	}
	if s := c.Query("to"); s != "" {
		if to, err = time.Parse(time.RFC3339, s); err != nil {
			return hub.FieldError("to", "must be an RFC 3339 time")
		}
	}
	var list []*Meeting
	if pr.Is(hub.RoleAdmin, hub.RoleOfficer) {
		list, err = p.ListMeetings(ctx, c.Query("unit"), from, to)
	} else if pr.Kind == "user" {
		list, err = p.MeetingsOf(ctx, pr.ID, from)
	} else {
		list = []*Meeting{}
	}
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"meetings": list})
}

func (p *Proceedings) handleCreate(c *fiber.Ctx) error {
	var in MeetingInput
	if err := bindMeeting(c, &in); err != nil {
		return err
	}
	m, err := p.CreateMeeting(c.UserContext(), hub.PrincipalOf(c), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(m)
}

// meetingDetail is GET /api/v1/meetings/{id}.
type meetingDetail struct {
	Meeting   *Meeting     `json:"meeting"`
	Invitees  []*Invitee   `json:"invitees"`
	Agenda    []AgendaItem `json:"agenda"`
	Documents []*Document  `json:"documents"`
	Me        *Invitee     `json:"me"`
}

func (p *Proceedings) handleGet(c *fiber.Ctx) error {
	id, a, err := p.ask(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	d := meetingDetail{Me: a.inv}
	if d.Meeting, err = p.Meeting(ctx, id); err != nil {
		return err
	}
	if d.Invitees, err = p.Invitees(ctx, id); err != nil {
		return err
	}
	if d.Agenda, err = loadAgenda(ctx, p.pool, id); err != nil {
		return err
	}
	if d.Documents, err = p.Documents(ctx, id); err != nil {
		return err
	}
	return c.JSON(d)
}

func (p *Proceedings) handleUpdate(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	var in MeetingInput
	if err := bindMeeting(c, &in); err != nil {
		return err
	}
	m, err := p.UpdateMeeting(c.UserContext(), id, in)
	if err != nil {
		return err
	}
	return c.JSON(m)
}

func (p *Proceedings) handleCancel(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	if err := p.CancelMeeting(c.UserContext(), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (p *Proceedings) handleInvite(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	var in InviteeInput
	if err := hub.BindJSON(c, &in); err != nil {
		return err
	}
	inv, token, err := p.Invite(c.UserContext(), id, in)
	if err != nil {
		return err
	}
	m, err := p.Meeting(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(inviteLink(m, inv, token))
}

func (p *Proceedings) handleUninvite(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	inv, err := paramID(c, "inv")
	if err != nil {
		return err
	}
	if err := p.Uninvite(c.UserContext(), id, inv); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (p *Proceedings) handleAddItem(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	var in AgendaInput
	if err := hub.BindJSON(c, &in); err != nil {
		return err
	}
	it, err := p.AddAgendaItem(c.UserContext(), id, in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(it)
}

func (p *Proceedings) handleUpdateItem(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	item, err := paramID(c, "item")
	if err != nil {
		return err
	}
	var in AgendaInput
	if err := hub.BindJSON(c, &in); err != nil {
		return err
	}
	it, err := p.UpdateAgendaItem(c.UserContext(), id, item, in)
	if err != nil {
		return err
	}
	return c.JSON(it)
}

func (p *Proceedings) handleDeleteItem(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	item, err := paramID(c, "item")
	if err != nil {
		return err
	}
	if err := p.DeleteAgendaItem(c.UserContext(), id, item); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (p *Proceedings) handleView(c *fiber.Ctx) error {
	id, a, err := p.ask(c)
	if err != nil {
		return err
	}
	v, err := p.View(c.UserContext(), id, a.inv)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

// handleCommand runs a proceedings message sent over REST; the reply is the
// same as over the websocket, with the error's HTTP status.
func (p *Proceedings) handleCommand(c *fiber.Ctx) error {
	id, a, err := p.ask(c)
	if err != nil {
		return err
	}
	inv, err := a.invitee(id)
	if err != nil {
		return err
	}
	m, err := ParseProcMessage(c.Body())
	if err != nil {
		p.metrics.rejected.WithLabelValues(hub.ErrorCode(err)).Inc()
		return err
	}
	body, err := p.Do(c.UserContext(), inv, m)
	if err != nil {
		p.metrics.commands.WithLabelValues(m.Type, hub.ErrorCode(err)).Inc()
		p.metrics.rejected.WithLabelValues(hub.ErrorCode(err)).Inc()
		return err
	}
	p.metrics.commands.WithLabelValues(m.Type, "ok").Inc()
	return c.JSON(body)
}

func (p *Proceedings) handleEvents(c *fiber.Ctx) error {
	id, _, err := p.ask(c)
	if err != nil {
		return err
	}
	after, err := strconv.ParseInt(c.Query("after", "0"), 10, 64)
	if err != nil || after < 0 {
		return hub.FieldError("after", "must be a sequence number ≥ 0")
	}
	limit, err := strconv.Atoi(c.Query("limit", "1000"))
	if err != nil || limit < 1 || limit > 5000 {
		return hub.FieldError("limit", "must be 1–5000")
	}
	evs, err := p.Events(c.UserContext(), id, after, limit)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"meeting": id, "events": evs})
}

func (p *Proceedings) handleVotes(c *fiber.Ctx) error {
	id, _, err := p.ask(c)
	if err != nil {
		return err
	}
	vs, err := p.Votes(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"votes": vs})
}
