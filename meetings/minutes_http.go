package meetings

import (
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/communehub/communehub/hub"
)

// handleSignedMinutes serves approved minutes with their signature (JSON,
// or ?format=text: the text itself with the digest and signature in headers).
func (p *Proceedings) handleSignedMinutes(c *fiber.Ctx) error {
	id, _, err := p.ask(c)
	if err != nil {
		return err
	}
	s, err := p.SignedMinutes(c.UserContext(), id)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "private, max-age=31536000, immutable")
	c.Set(fiber.HeaderETag, `"sha256-`+s.SHA256+`"`)
	switch c.Query("format", "json") {
	case "json":
		return c.JSON(s)
	case "text":
		c.Set("X-Minutes-SHA256", s.SHA256)
		c.Set("X-Minutes-Signature", s.Signature)
		c.Set("X-Minutes-Key-Id", s.KeyID)
		c.Set(fiber.HeaderContentType, "text/plain; charset=utf-8")
		return c.SendString(s.Text)
	}
	return hub.FieldError("format", "must be json or text")
}

func (p *Proceedings) handleDraft(c *fiber.Ctx) error {
	id, _, err := p.ask(c)
	if err != nil {
		return err
	}
	m, err := p.Minutes(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(m)
}

type draftRequest struct {
	Revision int    `json:"revision"`
	Text     string `json:"text"`
}

func (p *Proceedings) handleSaveDraft(c *fiber.Ctx) error {
	id, a, err := p.ask(c)
	if err != nil {
		return err
	}
	inv, err := a.invitee(id)
	if err != nil {
		return err
	}
	var req draftRequest
	if err := hub.BindJSON(c, &req); err != nil {
		return err
	}
	if req.Revision <= 0 {
		return hub.FieldError("revision", "is required: the revision the edit started from")
	}
	rev, err := p.SaveMinutes(c.UserContext(), inv, req.Revision, req.Text)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"revision": rev})
}

type approveRequest struct {
	Revision int `json:"revision"`
}

func (p *Proceedings) handleApprove(c *fiber.Ctx) error {
	id, a, err := p.ask(c)
	if err != nil {
		return err
	}
	inv, err := a.invitee(id)
	if err != nil {
		return err
	}
	var req approveRequest
	if err := hub.BindJSON(c, &req); err != nil {
		return err
	}
	if req.Revision <= 0 {
		return hub.FieldError("revision", "is required: the revision being approved")
	}
	s, err := p.ApproveMinutes(c.UserContext(), inv, req.Revision)
	if err != nil {
		return err
	}
	return c.JSON(s)
}

func (p *Proceedings) handleVerifyStored(c *fiber.Ctx) error {
	id, _, err := p.ask(c) // who may read the minutes may check them; others learn not even that they exist
	if err != nil {
		return err
	}
	s, err := p.SignedMinutes(c.UserContext(), id)
	if err != nil {
		return err
	}
	v, err := p.VerifyMinutes(c.UserContext(), s)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

// handleVerify checks a copy of signed minutes: the body is the JSON that
// GET /meetings/{id}/minutes served, or the PDF of GET …/minutes.pdf (its
// embedded JSON is checked). It answers 200 with valid true or false.
func (p *Proceedings) handleVerify(c *fiber.Ctx) error {
	cp, err := ParseMinutesCopy(c.Body())
	if err != nil {
		return err
	}
	v, err := p.VerifyCopy(c.UserContext(), cp)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

// handleMinutesPDF serves approved minutes as a PDF (same access as the
// JSON): the rendering, with the signed JSON embedded for verifiers.
func (p *Proceedings) handleMinutesPDF(c *fiber.Ctx) error {
	id, _, err := p.ask(c)
	if err != nil {
		return err
	}
	s, err := p.SignedMinutes(c.UserContext(), id)
	if err != nil {
		return err
	}
	v, err := p.VerifyMinutes(c.UserContext(), s)
	if err != nil {
		return err
	}
	b, err := RenderMinutesPDF(s, v)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "private, max-age=31536000, immutable")
	c.Set(fiber.HeaderETag, `"pdf-sha256-`+s.SHA256+`"`)
	c.Set(fiber.HeaderContentType, "application/pdf")
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`inline; filename="bien-ban-%d.pdf"`, id))
	return c.Send(b)
}
