package media

import (
	"context"
	"embed"

	"github.com/gofiber/fiber/v2/middleware/filesystem"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/meetings"
)

// meetingWebFS is the meeting page with media: plain HTML, CSS and ES
// modules, Vietnamese by default with an English switch (one message table
// in meeting.js). It embeds the proceedings panels from
// /static/proceedings/proceedings.js.
//
//go:embed web/meeting.html web/meeting.js web/meeting.css web/link.js
var meetingWebFS embed.FS

// mountPage serves /meetings/{id} (the meeting room) and its modules. The
// page takes invite links and redirect tickets (see meetingPage).
func (m *Service) mountPage(r hub.Routes) {
	app := r.App
	app.Use("/static/meeting", filesystem.New(filesystem.Config{Root: hub.HTTPFS(meetingWebFS, "web"), MaxAge: 300}))
	html, err := meetingWebFS.ReadFile("web/meeting.html")
	if err != nil {
		panic(err) // embedded above
	}
	page := m.proc.MeetingPage(html, "", r.SecureCookies(), m.ticketInvitee)
	app.Get("/meetings/:id<int>", r.Authn, page)
	app.Post("/meetings/:id<int>", r.Authn, page)
}

// ticketInvitee uses a redirect ticket up and returns the invitee it admits,
// if still invited.
func (m *Service) ticketInvitee(ctx context.Context, meetingID int64, ticket string) (*meetings.Invitee, error) {
	inv, err := m.owners.useTicket(ctx, meetingID, ticket)
	if err != nil {
		return nil, err
	}
	return m.inviteeByID(ctx, meetingID, inv)
}
