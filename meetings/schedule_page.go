package meetings

import (
	"embed"
	"net/url"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"

	"github.com/communehub/communehub/hub"
)

// procWebFS holds the proceedings' pages and modules. The meeting page
// (issue 6) imports /static/proceedings/proceedings.js for its agenda,
// documents, queue, vote, attendance and minutes panels.
//
//go:embed web/schedule.html web/schedule.js web/paperless.html web/proceedings.js web/proceedings.css
var procWebFS embed.FS

// mountPages serves the scheduling page (/meetings), the paperless
// proceedings page (/meetings/{id}/paperless: agenda, documents, queue,
// votes and minutes without media, for hall tablets and weak links) and
// the static modules.
func (p *Proceedings) mountPages(r hub.Routes) {
	app, auth := r.App, r.Authn
	app.Use("/static/proceedings", filesystem.New(filesystem.Config{Root: hub.HTTPFS(procWebFS, "web"), MaxAge: 300}))
	app.Get("/meetings", auth, page("web/schedule.html"))
	paperless, err := procWebFS.ReadFile("web/paperless.html")
	if err != nil {
		panic(err) // embedded above
	}
	h := p.MeetingPage(paperless, "/paperless", r.SecureCookies(), nil) // takes invite links
	app.Get("/meetings/:id/paperless", auth, h)
	app.Post("/meetings/:id/paperless", auth, h)
}

// page serves an embedded page to a logged-in user; others go to the login
// page.
func page(name string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if hub.PrincipalOf(c) == nil {
			return c.Redirect("/login?next="+url.QueryEscape(c.OriginalURL()), fiber.StatusSeeOther)
		}
		b, err := procWebFS.ReadFile(name)
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderCacheControl, "no-cache")
		return c.Type("html").Send(b)
	}
}
