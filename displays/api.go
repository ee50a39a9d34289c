package displays

import (
	"context"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/communehub/communehub/hub"
	"github.com/gofiber/fiber/v2"
)

// displayInput is the body of create, pair and update; nil fields are left
// as they are (update) or take their default (create: lang vi, no schedule).
type displayInput struct {
	Code           *string          `json:"code"` // pair only
	Name           *string          `json:"name"`
	Scope          *string          `json:"scope"`
	Layout         *string          `json:"layout"`
	Classification *string          `json:"classification"`
	Lang           *string          `json:"lang"`
	Schedule       *[]ScheduleEntry `json:"schedule"`
}

// mountAPI adds the displays REST API to the /api/v1 router; all of it is
// for admins.
func (s *Service) mountAPI(api fiber.Router) {
	admin := hub.RequireRole(hub.RoleAdmin)
	api.Get("/displays", admin, s.handleList)
	api.Post("/displays", admin, s.handleCreate)
	api.Post("/displays/pair", admin, s.handlePair)
	api.Get("/displays/:id", admin, s.handleGet)
	api.Patch("/displays/:id", admin, s.handleUpdate)
	api.Delete("/displays/:id", admin, s.handleRevoke)
	api.Post("/displays/:id/commands", admin, s.handleCommand)
}

func pathID(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, hub.FieldError("id", "must be a display id")
	}
	return id, nil
}

func principalName(c *fiber.Ctx) string {
	if p := hub.PrincipalOf(c); p != nil {
		return p.Kind + ":" + p.Name
	}
	return ""
}

// apply validates in and writes it onto d. create requires every field but
// lang and schedule.
func (s *Service) apply(ctx context.Context, in *displayInput, d *Display, create bool) error {
	if create {
		switch {
		case in.Name == nil:
			return hub.FieldError("name", "is required")
		case in.Scope == nil:
			return hub.FieldError("scope", "is required (a commune or province code, e.g. \"03244\" or \"11\")")
		case in.Layout == nil:
			return hub.FieldError("layout", "is required (commune, province or meeting)")
		case in.Classification == nil:
			return hub.FieldError("classification", "is required (public or internal)")
		}
		d.Lang, d.Schedule = "vi", []ScheduleEntry{}
	}
	if in.Name != nil {
		n := strings.TrimSpace(*in.Name)
		if n == "" || utf8.RuneCountInString(n) > 100 {
			return hub.FieldError("name", "must be 1–100 characters")
		}
		d.Name = n
	}
	if in.Scope != nil {
		u, err := s.d.Units.Get(ctx, strings.TrimSpace(*in.Scope))
		if hub.ErrorCode(err) == hub.ENotFound {
			return &hub.Error{Code: hub.EUnprocessable, Field: "scope", Message: "no current commune or province has code " + strconv.Quote(*in.Scope)}
		}
		if err != nil {
			return err
		}
		d.Scope, d.ScopeLevel = u.Code, u.Level
	}
	if in.Layout != nil {
		d.Layout = *in.Layout
		d.OverrideUntil = nil
	}
	if e := checkLayout(d.Layout, d.ScopeLevel); e != nil {
		if in.Layout == nil && in.Scope != nil {
			e.Field = "scope"
			e.Message = "the screen's layout " + strconv.Quote(d.Layout) + " does not suit this scope; change layout too"
		}
		return e
	}
	if in.Classification != nil {
		if *in.Classification != Public && *in.Classification != Internal {
			return hub.FieldError("classification", "must be public or internal")
		}
		d.Classification = *in.Classification
	}
	if in.Lang != nil {
		if *in.Lang != "vi" && *in.Lang != "en" {
			return hub.FieldError("lang", "must be vi or en")
		}
		d.Lang = *in.Lang
	}
	if in.Schedule != nil {
		d.Schedule = *in.Schedule
		if d.Schedule == nil {
			d.Schedule = []ScheduleEntry{}
		}
	}
	return checkSchedule(d.Schedule, d.ScopeLevel)
}

func (s *Service) handleCreate(c *fiber.Ctx) error {
	var in displayInput
	if err := hub.BindJSON(c, &in); err != nil {
		return err
	}
	if in.Code != nil {
		return hub.FieldError("code", "pair a screen showing a code with POST /api/v1/displays/pair")
	}
	var d Display
	if err := s.apply(c.UserContext(), &in, &d, true); err != nil {
		return err
	}
	token := newToken()
	created, err := s.store.create(c.UserContext(), &d, hashToken(token), principalName(c))
	if err != nil {
		return err
	}
	s.log.Info("display created", "id", created.ID, "name", created.Name, "by", principalName(c))
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{
		"display": created, "token": token, "url": "/display#token=" + token,
	})
}

// normalizeCode accepts a code as people type it: any case, with spaces or
// dashes.
func normalizeCode(s string) (string, bool) {
	s = strings.ToUpper(strings.NewReplacer(" ", "", "-", "").Replace(s))
	if len(s) != 6 {
		return "", false
	}
	for _, r := range s {
		if !strings.ContainsRune(pairingAlphabet, r) {
			return "", false
		}
	}
	return s, true
}

func (s *Service) handlePair(c *fiber.Ctx) error {
	var in displayInput
	if err := hub.BindJSON(c, &in); err != nil {
		return err
	}
	if in.Code == nil {
		return hub.FieldError("code", "is required: the 6 characters on the screen")
	}
	code, ok := normalizeCode(*in.Code)
	if !ok {
		return hub.FieldError("code", "must be the 6 characters shown on the screen (letters and digits)")
	}
	var d Display
	if err := s.apply(c.UserContext(), &in, &d, true); err != nil {
		return err
	}
	paired, err := s.store.pair(c.UserContext(), code, &d, principalName(c))
	if err != nil {
		return err
	}
	s.log.Info("display paired", "id", paired.ID, "name", paired.Name, "by", principalName(c))
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"display": paired})
}

func (s *Service) handleList(c *fiber.Ctx) error {
	all := c.QueryBool("all", false)
	list, err := s.list(c.UserContext(), all, 0)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"displays": list, "build": s.o.Build})
}

func (s *Service) handleGet(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	list, err := s.list(c.UserContext(), true, id)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		return notFound(id)
	}
	if list[0].Commands, err = s.store.commands(c.UserContext(), id, 10); err != nil {
		return err
	}
	return c.JSON(list[0])
}

func (s *Service) handleUpdate(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in displayInput
	if err := hub.BindJSON(c, &in); err != nil {
		return err
	}
	if in.Code != nil {
		return hub.FieldError("code", "cannot be changed")
	}
	d, err := s.store.update(c.UserContext(), id, func(d *Display) error {
		return s.apply(c.UserContext(), &in, d, false)
	})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"display": d})
}

func (s *Service) handleRevoke(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := s.store.revoke(c.UserContext(), id); err != nil {
		return err
	}
	s.log.Info("display revoked", "id", id, "by", principalName(c))
	return c.SendStatus(fiber.StatusNoContent)
}

type commandInput struct {
	Command string `json:"command"`
	Layout  string `json:"layout"`
}

func (s *Service) handleCommand(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in commandInput
	if err := hub.BindJSON(c, &in); err != nil {
		return err
	}
	switch in.Command {
	case CmdReload, CmdIdentify:
		if in.Layout != "" {
			return hub.FieldError("layout", "only the layout command takes a layout")
		}
	case CmdLayout:
		if in.Layout == "" {
			return hub.FieldError("layout", "is required (commune, province or meeting)")
		}
	case "":
		return hub.FieldError("command", "is required (reload, identify or layout)")
	default:
		return hub.FieldError("command", "unknown command %q (accepted: reload, identify, layout)", in.Command)
	}
	cmd, err := s.store.command(c.UserContext(), id, in.Command, in.Layout, principalName(c))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(cmd)
}
