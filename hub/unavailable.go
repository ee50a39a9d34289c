package hub

import (
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
)

// MountUnavailable makes app the stand-in that answers while the hub cannot
// do its work yet (its database does not answer at start): the operations
// endpoints as always, so monitoring sees the hub and what it waits for; a
// JSON 503 for the API and websockets; and for every page a 503 page that
// says so, in Vietnamese with an English switch, and reloads itself once
// /readyz answers 200. what names the missing dependency in messages.
func MountUnavailable(app *fiber.App, ops Ops, what string) {
	ops.Mount(app)
	app.Use("/static/hub", filesystem.New(filesystem.Config{Root: HTTPFS(webFS, "web"), MaxAge: 300}))
	page, _ := webFS.ReadFile("web/unavailable.html")
	app.Use(func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderRetryAfter, "5")
		c.Set(fiber.HeaderCacheControl, "no-store")
		path := c.Path()
		if strings.HasPrefix(path, "/api/") || path == "/ws" || strings.HasPrefix(path, "/ws/") ||
			strings.EqualFold(c.Get(fiber.HeaderUpgrade), "websocket") ||
			c.Accepts(fiber.MIMETextHTML, fiber.MIMEApplicationJSON) == fiber.MIMEApplicationJSON {
			return Errorf(EUnavailable, "%s unreachable: the hub is starting and waits for it; try again shortly", what)
		}
		return c.Status(fiber.StatusServiceUnavailable).Type("html").Send(page)
	})
}
