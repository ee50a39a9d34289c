package backlog

import (
	"strconv"

	"github.com/communehub/communehub/hub"
	"github.com/gofiber/fiber/v2"
)

func (s *Service) handleRegisterIncoming(c *fiber.Ctx) error {
	var in IncomingInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	actor, _ := actorOf(c)
	d, err := s.RegisterIncoming(c.UserContext(), in, actor)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(d)
}

func docID(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, hub.FieldError("id", "must be a document id")
	}
	return id, nil
}

func (s *Service) handleIncoming(c *fiber.Ctx) error {
	id, err := docID(c)
	if err != nil {
		return err
	}
	d, err := s.IncomingDoc(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(d)
}

func (s *Service) handlePatchIncoming(c *fiber.Ctx) error {
	id, err := docID(c)
	if err != nil {
		return err
	}
	var in IncomingPatch
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	actor, _ := actorOf(c)
	d, err := s.PatchIncoming(c.UserContext(), id, in, actor)
	if err != nil {
		return err
	}
	return c.JSON(d)
}

func (s *Service) handleIncomingList(c *fiber.Ctx) error {
	limit, offset, err := parseLimit(c)
	if err != nil {
		return err
	}
	f := DocFilter{Unit: c.Query("unit"), Status: c.Query("status"), Limit: limit, Offset: offset}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"overdue", &f.Overdue}, {"urgent", &f.Urgent}, {"backlog", &f.Backlog}} {
		if v := c.Query(b.name); v != "" {
			if *b.dst, err = strconv.ParseBool(v); err != nil {
				return hub.FieldError(b.name, "must be true or false")
			}
		}
	}
	list, more, err := s.ListIncoming(c.UserContext(), f)
	if err != nil {
		return err
	}
	resp := fiber.Map{"documents": list}
	if more {
		resp["next_offset"] = offset + len(list)
	}
	return c.JSON(resp)
}

func (s *Service) handleRegisterOutgoing(c *fiber.Ctx) error {
	var in OutgoingInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	actor, _ := actorOf(c)
	o, err := s.RegisterOutgoing(c.UserContext(), in, actor)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(o)
}

func (s *Service) handleOutgoingList(c *fiber.Ctx) error {
	limit, offset, err := parseLimit(c)
	if err != nil {
		return err
	}
	list, more, err := s.ListOutgoing(c.UserContext(), c.Query("unit"), limit, offset)
	if err != nil {
		return err
	}
	resp := fiber.Map{"documents": list}
	if more {
		resp["next_offset"] = offset + len(list)
	}
	return c.JSON(resp)
}
