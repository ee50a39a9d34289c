package meetings

import (
	"embed"
	"net/url"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"

	"github.com/communehub/communehub/hub"
)

// meetingWebFS is the meeting page with media: plain HTML, CSS and ES
// modules, Vietnamese by default with an English switch (one message table
// in meeting.js). It embeds the proceedings panels from
// /static/proceedings/proceedings.js.
//
//go:embed web/meeting.html web/meeting.js web/meeting.css
var meetingWebFS embed.FS

// mountPage serves /meetings/{id} (the meeting room) and its modules.
func (m *Media) mountPage(app *fiber.App, core *hub.Core) {
	app.Use("/static/meeting", filesystem.New(filesystem.Config{Root: hub.HTTPFS(meetingWebFS, "web"), MaxAge: 300}))
	app.Get("/meetings/:id<int>", core.Auth.Middleware(), func(c *fiber.Ctx) error {
		if hub.PrincipalOf(c) == nil && c.Query("invite") == "" && c.Query("ticket") == "" {
			return c.Redirect("/login?next="+url.QueryEscape(c.OriginalURL()), fiber.StatusSeeOther)
		}
		b, err := meetingWebFS.ReadFile("web/meeting.html")
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderCacheControl, "no-cache")
		return c.Type("html").Send(b)
	})
}
