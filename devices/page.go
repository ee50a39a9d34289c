package devices

import (
	"embed"
	"net/url"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"

	"github.com/communehub/communehub/hub"
)

//go:embed web
var webFS embed.FS

// mountPage serves the technician page at /devices (the login page first
// for anonymous browsers) and its assets under /static/devices/.
func (s *Service) mountPage(app *fiber.App, authMW fiber.Handler) {
	app.Use("/static/devices", filesystem.New(filesystem.Config{Root: hub.HTTPFS(webFS, "web"), MaxAge: 300}))
	app.Get("/devices", authMW, func(c *fiber.Ctx) error {
		if hub.PrincipalOf(c) == nil {
			return c.Redirect("/login?next=" + url.QueryEscape(c.OriginalURL()))
		}
		b, err := webFS.ReadFile("web/devices.html")
		if err != nil {
			return err
		}
		return c.Type("html").Send(b)
	})
}
