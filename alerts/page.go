package alerts

import (
	"embed"
	"net/url"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"

	"github.com/communehub/communehub/hub"
)

//go:embed web
var webFS embed.FS

// mountPage serves the "Thông báo" page at /alerts (admins; the login page
// first for anonymous browsers) and its assets under /static/alerts/.
func (s *Service) mountPage(app *fiber.App, authMW fiber.Handler) {
	app.Use("/static/alerts", filesystem.New(filesystem.Config{Root: hub.HTTPFS(webFS, "web"), MaxAge: 300}))
	app.Get("/alerts", authMW, func(c *fiber.Ctx) error {
		p := hub.PrincipalOf(c)
		if p == nil {
			return c.Redirect("/login?next=" + url.QueryEscape(c.OriginalURL()))
		}
		if !p.Is(hub.RoleAdmin) {
			return hub.Errorf(hub.EForbidden, "the notification settings are for administrators")
		}
		b, err := webFS.ReadFile("web/alerts.html")
		if err != nil {
			return err
		}
		return c.Type("html").Send(b)
	})
}
