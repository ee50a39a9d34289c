package backlog

import (
	"bytes"
	"embed"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
)

//go:embed web
var webFS embed.FS

// MaxImportBody bounds an import upload (the server reads no more).
const MaxImportBody = hub.ServerBodyLimit

// writers may change the backlog; every authenticated role may read it.
var writers = []hub.Role{hub.RoleAdmin, hub.RoleOfficer}

// Mount adds the backlog's API routes to r.API (the kernel's /api/v1
// group) and its officer page to r.App. Officers and admins write; every
// role reads.
func (s *Service) Mount(r hub.Routes) {
	r.AllowBody("/api/v1/dossiers/import", MaxImportBody)
	api, app, authn := r.API, r.App, r.Authn
	read := hub.RequireRole()
	write := hub.RequireRole(writers...)
	api.Get("/kpis", read, s.handleKPIs)
	api.Get("/backlog", read, s.handleBacklog)
	api.Get("/procedures", read, s.handleProcedures)
	api.Get("/procedures/:code", read, s.handleProcedure)
	api.Put("/procedures/:code", write, s.handlePutProcedure)
	api.Get("/agencies", read, s.handleAgencies)
	api.Put("/agencies/:code", write, s.handlePutAgency)
	api.Get("/holidays", read, s.handleHolidays)
	api.Put("/holidays/:date", write, s.handlePutHoliday)
	api.Delete("/holidays/:date", write, s.handleDeleteHoliday)
	api.Get("/dossiers", read, s.handleDossiers)
	api.Post("/dossiers/import", write, s.handleImport)
	api.Get("/dossiers/:code", read, s.handleDossier)
	api.Get("/dossiers/:code/history", read, s.handleHistory)
	api.Put("/dossiers/:code", write, s.handlePutDossier)
	api.Post("/documents/incoming", write, s.handleRegisterIncoming)
	api.Get("/documents/incoming", read, s.handleIncomingList)
	api.Get("/documents/incoming/:id", read, s.handleIncoming)
	api.Patch("/documents/incoming/:id", write, s.handlePatchIncoming)
	api.Post("/documents/outgoing", write, s.handleRegisterOutgoing)
	api.Get("/documents/outgoing", read, s.handleOutgoingList)

	app.Use("/static/backlog", filesystem.New(filesystem.Config{Root: hub.HTTPFS(webFS, "web"), MaxAge: 60}))
	app.Get("/backlog", authn, func(c *fiber.Ctx) error {
		if hub.PrincipalOf(c) == nil {
			return c.Redirect("/login?next="+url.QueryEscape(c.OriginalURL()), fiber.StatusSeeOther)
		}
		b, err := webFS.ReadFile("web/backlog.html")
		if err != nil {
			return err
		}
		c.Set("Cache-Control", "no-store")
		return c.Type("html").Send(b)
	})
}

// body returns the request body (the kernel has already refused one over
// the route's limit with 413).
func body(c *fiber.Ctx) []byte { return c.Body() }

func bindJSON(c *fiber.Ctx, v any) error {
	return hub.DecodeJSON(body(c), v)
}

func actorOf(c *fiber.Ctx) (actor, source string) {
	p := hub.PrincipalOf(c)
	if p.Kind == "token" {
		return "token:" + p.Name, "api"
	}
	return p.Name, "web"
}

func (s *Service) handleKPIs(c *fiber.Ctx) error {
	unit := c.Query("unit")
	if unit == "" {
		return hub.FieldError("unit", "is required: a commune (5 digits) or province (2 digits) code")
	}
	p, err := ParsePeriod(c.Query("from"), c.Query("to"), s.now())
	if err != nil {
		return err
	}
	k, err := s.KPIs(c.UserContext(), unit, p)
	if err != nil {
		return err
	}
	return c.JSON(k)
}

func (s *Service) handleBacklog(c *fiber.Ctx) error {
	unit := c.Query("unit")
	if unit == "" {
		return hub.FieldError("unit", "is required: a commune code")
	}
	bl, err := s.BacklogSnapshot(c.UserContext(), unit)
	if err != nil {
		return err
	}
	return c.JSON(bl)
}

func (s *Service) handleProcedures(c *fiber.Ctx) error {
	list, err := s.Procedures(c.UserContext())
	if err != nil {
		return err
	}
	if list == nil {
		list = []Procedure{}
	}
	return c.JSON(fiber.Map{"procedures": list})
}

func (s *Service) handleProcedure(c *fiber.Ctx) error {
	p, err := s.procedure(c.UserContext(), c.Params("code"))
	if err != nil {
		return hub.Errorf(hub.ENotFound, "no procedure %q", c.Params("code"))
	}
	return c.JSON(p)
}

func (s *Service) handlePutProcedure(c *fiber.Ctx) error {
	var in ProcedureInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	p, created, changed, err := s.PutProcedure(c.UserContext(), c.Params("code"), in)
	if err != nil {
		return err
	}
	status := fiber.StatusOK
	if created {
		status = fiber.StatusCreated
	}
	return c.Status(status).JSON(fiber.Map{"procedure": p, "created": created, "changed": changed})
}

func (s *Service) handleAgencies(c *fiber.Ctx) error {
	list, err := s.Agencies(c.UserContext(), c.Query("unit"))
	if err != nil {
		return err
	}
	if list == nil {
		list = []Agency{}
	}
	return c.JSON(fiber.Map{"agencies": list})
}

func (s *Service) handlePutAgency(c *fiber.Ctx) error {
	var in AgencyInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	a, err := s.PutAgency(c.UserContext(), c.Params("code"), in)
	if err != nil {
		return err
	}
	return c.JSON(a)
}

func (s *Service) handleHolidays(c *fiber.Ctx) error {
	year := 0
	if y := c.Query("year"); y != "" {
		n, err := strconv.Atoi(y)
		if err != nil || n < 2000 || n > 2100 {
			return hub.FieldError("year", "must be a year between 2000 and 2100")
		}
		year = n
	}
	list, err := s.Holidays(c.UserContext(), year)
	if err != nil {
		return err
	}
	if list == nil {
		list = []Holiday{}
	}
	return c.JSON(fiber.Map{"holidays": list})
}

type holidayInput struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

func (s *Service) handlePutHoliday(c *fiber.Ctx) error {
	var in holidayInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	h, err := s.PutHoliday(c.UserContext(), c.Params("date"), in.Name, in.Kind)
	if err != nil {
		return err
	}
	return c.JSON(h)
}

func (s *Service) handleDeleteHoliday(c *fiber.Ctx) error {
	if err := s.DeleteHoliday(c.UserContext(), c.Params("date")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Service) handlePutDossier(c *fiber.Ctx) error {
	actor, source := actorOf(c)
	code, _ := url.PathUnescape(c.Params("code"))
	res, err := s.UpsertDossier(c.UserContext(), code, body(c), actor, source)
	if err != nil {
		return err
	}
	status := fiber.StatusOK
	if res.Created {
		status = fiber.StatusCreated
	}
	return c.Status(status).JSON(fiber.Map{"code": res.Code, "created": res.Created, "changed": res.Changed,
		"status": res.Status, "dossier": s.view(res.Dossier, s.now())})
}

func (s *Service) handleImport(c *fiber.Ctx) error {
	format := c.Query("format")
	if format == "" {
		ct := strings.ToLower(c.Get(fiber.HeaderContentType))
		switch {
		case strings.Contains(ct, "csv"):
			format = "csv"
		case strings.Contains(ct, "json"):
			format = "jsonl"
		}
	}
	atomic := false
	if a := c.Query("atomic"); a != "" {
		v, err := strconv.ParseBool(a)
		if err != nil {
			return hub.FieldError("atomic", "must be true or false")
		}
		atomic = v
	}
	actor, source := actorOf(c)
	if source == "web" {
		source = "import"
	}
	rep, err := s.Import(c.UserContext(), bytes.NewReader(body(c)), ImportOptions{Format: format, Atomic: atomic, Actor: actor, Source: source})
	if err != nil {
		return err
	}
	status := fiber.StatusOK
	if !rep.Committed || rep.Rejected == rep.Rows {
		status = fiber.StatusUnprocessableEntity
	}
	return c.Status(status).JSON(rep)
}

// DossierView is a dossier with what is derived at the time of the question.
type DossierView struct {
	*Dossier
	StatusName         string `json:"status_name"`
	Class              string `json:"class"` // not_received, overdue, due_soon, within, closed
	OnTime             *bool  `json:"on_time,omitempty"`
	AllowedTransitions []int  `json:"allowed_transitions"`
}

func (s *Service) view(d *Dossier, now time.Time) *DossierView {
	if d == nil {
		return nil
	}
	v := &DossierView{Dossier: d, StatusName: StatusNames[d.Status], AllowedTransitions: allowedOrEmpty(AllowedTransitions(d.Status))}
	switch d.State() {
	case 0:
		v.Class = "not_received"
	case 2:
		v.Class = "closed"
		ok := dossierOnTime(d)
		v.OnTime = &ok
	default:
		if d.Deadline == nil {
			v.Class = "within"
			break
		}
		switch classifyOpen(*d.Deadline, d.PausedSince, now, s.cal.AddWorkingDays(now, s.cfg.DueSoonDays)) {
		case OpenOverdue:
			v.Class = "overdue"
		case OpenDueSoon:
			v.Class = "due_soon"
		default:
			v.Class = "within"
		}
	}
	return v
}

func (s *Service) handleDossier(c *fiber.Ctx) error {
	code, _ := url.PathUnescape(c.Params("code"))
	d, err := s.Dossier(c.UserContext(), code)
	if err != nil {
		return err
	}
	h, err := s.History(c.UserContext(), code)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"dossier": s.view(d, s.now()), "history": h})
}

func (s *Service) handleHistory(c *fiber.Ctx) error {
	code, _ := url.PathUnescape(c.Params("code"))
	h, err := s.History(c.UserContext(), code)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"code": code, "history": h})
}

func (s *Service) handleDossiers(c *fiber.Ctx) error {
	f, err := parseDossierFilter(c)
	if err != nil {
		return err
	}
	list, more, err := s.ListDossiers(c.UserContext(), f)
	if err != nil {
		return err
	}
	now := s.now()
	out := make([]*DossierView, len(list))
	for i, d := range list {
		out[i] = s.view(d, now)
	}
	resp := fiber.Map{"dossiers": out}
	if more {
		resp["next_offset"] = f.Offset + len(list)
	}
	return c.JSON(resp)
}

func parseLimit(c *fiber.Ctx) (limit, offset int, err error) {
	limit, offset = 50, 0
	if v := c.Query("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 500 {
			return 0, 0, hub.FieldError("limit", "must be 1–500")
		}
	}
	if v := c.Query("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 || offset > 1_000_000 {
			return 0, 0, hub.FieldError("offset", "must be 0–1000000")
		}
	}
	return limit, offset, nil
}

func parseDossierFilter(c *fiber.Ctx) (DossierFilter, error) {
	var f DossierFilter
	var err error
	if f.Limit, f.Offset, err = parseLimit(c); err != nil {
		return f, err
	}
	f.Unit, f.Procedure, f.Query, f.Class = c.Query("unit"), c.Query("procedure"), c.Query("q"), c.Query("class")
	if v := c.Query("status"); v != "" {
		for _, p := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil || n < 1 || n > 10 {
				return f, hub.FieldError("status", "must be portal status codes 1–10, comma-separated")
			}
			f.Statuses = append(f.Statuses, n)
		}
	}
	switch f.Class {
	case "", "open", "overdue", "due_soon", "within", "paused", "closed":
	default:
		return f, hub.FieldError("class", "must be open, overdue, due_soon, within, paused or closed")
	}
	if len(f.Query) > 100 {
		return f, hub.FieldError("q", "at most 100 bytes")
	}
	return f, nil
}
