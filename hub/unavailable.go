package hub

import (
	"bytes"
	"html/template"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
)

var unavailablePage = template.Must(template.ParseFS(webFS, "web/unavailable.html"))

// MountUnavailable makes app the stand-in that answers while the hub cannot
// do its work yet: the operations endpoints as always, so monitoring sees
// the hub and what it waits for; a JSON 503 for the API and websockets;
// and for every page a 503 page that says so, in Vietnamese with an
// English switch, and reloads itself once the page answers. waitingFor
// names the dependency that does not answer ("database"), or "" when the
// hub only has not finished starting.
func MountUnavailable(app *fiber.App, ops Ops, waitingFor func() string) {
	ops.Mount(app)
	app.Use("/static/hub", filesystem.New(filesystem.Config{Root: HTTPFS(webFS, "web"), MaxAge: 300}))
	app.Use(func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderRetryAfter, "5")
		c.Set(fiber.HeaderCacheControl, "no-store")
		what := waitingFor()
		path := c.Path()
		if strings.HasPrefix(path, "/api/") || path == "/ws" || strings.HasPrefix(path, "/ws/") ||
			strings.EqualFold(c.Get(fiber.HeaderUpgrade), "websocket") ||
			c.Accepts(fiber.MIMETextHTML, fiber.MIMEApplicationJSON) == fiber.MIMEApplicationJSON {
			if what != "" {
				return Errorf(EUnavailable, "%s unreachable: the hub waits for it; try again shortly", what)
			}
			return Errorf(EUnavailable, "the hub is starting; try again shortly")
		}
		state := what
		if state == "" {
			state = "starting"
		}
		var b bytes.Buffer
		if err := unavailablePage.Execute(&b, struct{ State string }{state}); err != nil {
			return err
		}
		return c.Status(fiber.StatusServiceUnavailable).Type("html").Send(b.Bytes())
	})
}
