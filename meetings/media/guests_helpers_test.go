package media

import (
	"net/http"

	"github.com/communehub/communehub/meetings"
	"github.com/communehub/communehub/meetings/meetingstest"
)

// The helpers the guests' tests of meetings have too, on meetingstest.

// visit makes a request with cookies and returns the response and its body.
func (f *fixture) visit(method, u string, cookies ...*http.Cookie) (*http.Response, string) {
	return meetingstest.Visit(f.T, method, u, cookies...)
}

// passIn returns the meeting pass cookie a response sets, or nil.
func passIn(resp *http.Response, meetingID int64) *http.Cookie {
	return meetingstest.PassIn(resp, meetings.PassCookie(meetingID))
}

func (f *fixture) inviteUsed(invitee int64) bool {
	f.T.Helper()
	return f.Count(`SELECT count(*) FROM meeting_invitees WHERE id=$1 AND invite_used_at IS NOT NULL`, invitee) == 1
}
