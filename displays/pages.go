package displays

import (
	"bytes"
	"embed"
	"net/url"

	"github.com/communehub/communehub/hub"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
)

//go:embed web
var webFS embed.FS

// Mount registers the display socket, the REST API on api (the /api/v1
// router) and the pages on app:
//
//	GET /ws/display        the screens' websocket (docs/display-protocol.md)
//	GET /display           the wall page (no login: the screen's token or a pairing code)
//	GET /displays          the admin page (screens, status, commands)
//	GET /displays/pair     the pairing page
//	/static/displays/*     their assets
func (s *Service) Mount(r hub.Routes) {
	app, api := r.App, r.API
	app.Get("/ws/display", s.websocketHandlers()...)
	s.mountAPI(api)
	app.Use("/static/displays", func(c *fiber.Ctx) error {
		// Revalidate every load, so a reload after a new build gets new code.
		c.Set(fiber.HeaderCacheControl, "no-cache")
		return c.Next()
	}, filesystem.New(filesystem.Config{Root: hub.HTTPFS(webFS, "web")}))
	app.Get("/display", s.page("web/wall.html"))
	staff := []fiber.Handler{r.Authn, s.requireLogin}
	app.Get("/displays", append(staff, s.page("web/admin.html"))...)
	app.Get("/displays/pair", append(staff, s.page("web/pair.html"))...)
}

// requireLogin sends browsers without a session to the login page.
func (s *Service) requireLogin(c *fiber.Ctx) error {
	if hub.PrincipalOf(c) == nil {
		return c.Redirect("/login?next=" + url.QueryEscape(c.OriginalURL()))
	}
	return c.Next()
}

// page serves an embedded page with the build id filled in ({{build}}), so
// the wall knows which build its code came from.
func (s *Service) page(name string) fiber.Handler {
	raw, err := webFS.ReadFile(name)
	if err != nil {
		panic(err) // embedded at build time
	}
	body := bytes.ReplaceAll(raw, []byte("{{build}}"), []byte(url.QueryEscape(s.o.Build)))
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderCacheControl, "no-cache")
		c.Set("X-Frame-Options", "DENY")
		return c.Type("html").Send(body)
	}
}
