package hub

import (
	"errors"
	"net/url"
	"strconv"

	"github.com/gofiber/fiber/v2"
)

// mountUsers registers the user administration API (admins), the
// self-service password change (every logged-in user), the audit log
// (admins) and their pages: /users for admins, /account for everyone.
func (k *Core) mountUsers(app *fiber.App, api fiber.Router) {
	admin := RequireRole(RoleAdmin)
	api.Get("/users", admin, k.listUsers)
	api.Post("/users", admin, k.addUser)
	api.Get("/users/:id", admin, k.getUser)
	api.Patch("/users/:id", admin, k.updateUser)
	api.Post("/users/:id/password", admin, k.resetPassword)
	api.Put("/me/password", RequireRole(), k.changeOwnPassword)
	api.Get("/audit", admin, k.listAudit)

	page := func(file string, admitted func(*Principal) bool, elsewhere string) fiber.Handler {
		return func(c *fiber.Ctx) error {
			p := PrincipalOf(c)
			if p == nil {
				return c.Redirect("/login?next="+url.QueryEscape(c.OriginalURL()), fiber.StatusSeeOther)
			}
			if !admitted(p) {
				return c.Redirect(elsewhere, fiber.StatusSeeOther)
			}
			b, err := webFS.ReadFile("web/" + file)
			if err != nil {
				return err
			}
			c.Set(fiber.HeaderCacheControl, "no-store")
			return c.Type("html").Send(b)
		}
	}
	app.Get("/users", k.Auth.Middleware(), page("users.html", func(p *Principal) bool { return p.Is(RoleAdmin) }, "/account"))
	app.Get("/account", k.Auth.Middleware(), page("account.html", func(p *Principal) bool { return p.Kind == "user" }, "/"))
}

func userID(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, FieldError("id", "must be a user id")
	}
	return id, nil
}

func (k *Core) listUsers(c *fiber.Ctx) error {
	list, err := k.Auth.ListUsers(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"users": list})
}

func (k *Core) getUser(c *fiber.Ctx) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	u, err := k.Auth.User(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(u)
}

func (k *Core) addUser(c *fiber.Ctx) error {
	var req NewUser
	if err := BindJSON(c, &req); err != nil {
		return err
	}
	u, password, err := k.Auth.AddUser(c.UserContext(), ActorOf(c), req)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"user": u, "password": password})
}

func (k *Core) updateUser(c *fiber.Ctx) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	var req UserChange
	if err := BindJSON(c, &req); err != nil {
		return err
	}
	u, err := k.Auth.UpdateUser(c.UserContext(), ActorOf(c), id, req)
	if err != nil {
		return err
	}
	return c.JSON(u)
}

func (k *Core) resetPassword(c *fiber.Ctx) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	password, err := k.Auth.ResetPassword(c.UserContext(), ActorOf(c), id)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"password": password})
}

type passwordChange struct {
	Current string `json:"current"`
	New     string `json:"new"`
}

func (k *Core) changeOwnPassword(c *fiber.Ctx) error {
	var req passwordChange
	if err := BindJSON(c, &req); err != nil {
		return err
	}
	err := k.Auth.ChangeOwnPassword(c.UserContext(), ActorOf(c), PrincipalOf(c), req.Current, req.New)
	var e *Error
	if errors.As(err, &e) && e.Code == ETooMany {
		if d, ok := e.Details.(map[string]any)["retry_after"].(int); ok {
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(d))
		}
	}
	if err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (k *Core) listAudit(c *fiber.Ctx) error {
	var q AuditQuery
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"before", &q.Before}, {"user", &q.UserID}} {
		if v := c.Query(f.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return FieldError(f.name, "must be a positive id")
			}
			*f.dst = n
		}
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return FieldError("limit", "must be 1–500")
		}
		q.Limit = n
	}
	list, err := k.Auth.ListAudit(c.UserContext(), q)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"entries": list})
}
