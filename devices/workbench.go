package devices

import (
	"net/url"

	"github.com/gofiber/fiber/v2"

	"github.com/communehub/communehub/hub"
)

// workbenchPages are the technician's pages beside the device list, each
// one HTML file of web/ (its script and style under /static/devices/):
// the LAN as a tree, alarm rules and maintenance windows, provisioning.
// They are one path segment deep, so they never meet /devices/{unit}/{id}.
var workbenchPages = map[string]string{
	"/devices/topology":  "web/topology.html",
	"/devices/rules":     "web/rules.html",
	"/devices/provision": "web/provision.html",
}

// mountWorkbench serves the workbench pages (the login page first for
// anonymous browsers). What a viewer may not change, the pages show
// without their buttons; the API refuses it anyway.
func (s *Service) mountWorkbench(app *fiber.App, authMW fiber.Handler) {
	for path, file := range workbenchPages {
		app.Get(path, authMW, func(c *fiber.Ctx) error {
			if hub.PrincipalOf(c) == nil {
				return c.Redirect("/login?next=" + url.QueryEscape(c.OriginalURL()))
			}
			b, err := webFS.ReadFile(file)
			if err != nil {
				return err
			}
			return c.Type("html").Send(b)
		})
	}
}
