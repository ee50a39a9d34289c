package meetings_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/communehub/communehub/meetings"
)

// openLink opens the guest's invite link on the paperless page (the
// meeting room's page, served by meetings/media, takes links the same
// way): GET shows the page, POST redeems it.
func (f *fixture) openLink(method string) (*http.Response, string) {
	f.T.Helper()
	return f.visit(method, fmt.Sprintf("%s/meetings/%d/paperless?invite=%s", f.Serve(), f.Meeting.ID, f.GuestToken))
}

// A link opened days after the meeting opens nothing: the page says the
// link expired (410), the API says so in JSON, and no pass exists.
func TestInviteLinkExpiresAfterTheMeeting(t *testing.T) {
	f := newFixture(t)
	base := f.Serve()
	f.Reschedule(fixtureStart, fixtureStart.Add(2*time.Hour))
	f.Clock.Set(fixtureStart.Add(2*time.Hour + 5*24*time.Hour)) // ended 5 days ago
	for _, method := range []string{"GET", "POST"} {
		resp, body := f.openLink(method)
		if resp.StatusCode != http.StatusGone || !strings.Contains(body, `data-reason="expired"`) {
			t.Errorf("%s of a link 5 days after the meeting: %d %q", method, resp.StatusCode, firstLine(body, `data-reason`))
		}
		if p := passIn(resp, f.Meeting.ID); p != nil {
			t.Errorf("%s of an expired link gave a pass", method)
		}
	}
	if _, _, err := f.P.RedeemInvite(f.Ctx, f.Meeting.ID, f.GuestToken); !IsLinkExpired(err) {
		t.Errorf("redeeming 5 days after: %v", err)
	}
	if n := f.Count(`SELECT count(*) FROM meeting_passes`); n != 0 {
		t.Errorf("%d passes opened by an expired link", n)
	}
	req, err := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/meetings/%d", base, f.Meeting.ID), nil)
	f.Must(err)
	req.Header.Set(InviteHeader, f.GuestToken)
	r, err := f.Client.Do(req)
	f.Must(err)
	defer r.Body.Close()
	var b json.RawMessage
	status := r.StatusCode
	f.Must(json.NewDecoder(r.Body).Decode(&b))
	var e struct {
		Error struct {
			Code, Field, Message string
			Details              struct {
				Reason    string    `json:"reason"`
				ExpiredAt time.Time `json:"expired_at"`
			}
		}
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	want := fixtureStart.Add(14 * time.Hour)
	if status != 403 || e.Error.Field != "invite" || e.Error.Details.Reason != "expired" || !e.Error.Details.ExpiredAt.Equal(want) ||
		!strings.Contains(e.Error.Message, "expired") {
		t.Errorf("the API with an expired link: %d %s", status, b)
	}
	if !strings.Contains(InvitePage, "Đường dẫn mời đã hết hạn") || !strings.Contains(InvitePage, "This invite link has expired") {
		t.Error("the invite page has no Vietnamese and English text for an expired link")
	}

	// Moved to next week: the same link works again.
	next := f.Clock.Now().Add(7 * 24 * time.Hour)
	f.Reschedule(next, next.Add(2*time.Hour))
	if resp, _ := f.openLink("POST"); resp.StatusCode != http.StatusSeeOther || passIn(resp, f.Meeting.ID) == nil {
		t.Errorf("the link of a meeting moved to next week: %d", resp.StatusCode)
	}
}

// A pass opened during the meeting admits until 12 hours after the planned
// end and no longer; it follows the meeting when it is rescheduled.
func TestMeetingPassEndsTwelveHoursAfterPlannedEnd(t *testing.T) {
	f := newFixture(t)
	base := f.Serve()
	end := fixtureStart.Add(2 * time.Hour)
	f.Reschedule(fixtureStart, end)
	f.Clock.Set(fixtureStart.Add(time.Hour)) // during the meeting
	resp, _ := f.openLink("POST")
	pass := passIn(resp, f.Meeting.ID)
	if resp.StatusCode != http.StatusSeeOther || pass == nil {
		t.Fatalf("redeeming during the meeting: %d", resp.StatusCode)
	}
	if want := end.Add(AccessGrace).Sub(f.Clock.Now()); pass.MaxAge != int(want.Seconds()) {
		t.Errorf("the pass cookie lasts %ds, want %v", pass.MaxAge, want)
	}
	api := fmt.Sprintf("%s/api/v1/meetings/%d", base, f.Meeting.ID)
	at := func(d time.Duration, want int) {
		t.Helper()
		f.Clock.Set(end.Add(d))
		if resp, _ := f.visit("GET", api, pass); resp.StatusCode != want {
			t.Errorf("the pass %v after the planned end: %d, want %d", d, resp.StatusCode, want)
		}
	}
	at(11*time.Hour+59*time.Minute, 200)
	at(12*time.Hour, 403)
	at(4*24*time.Hour, 403)
	f.P.SweepPasses(f.Ctx) // an ended pass of a meeting that may still move is kept

	// Moved a day later: the pass admits again, until 12 hours after the new end.
	f.Reschedule(fixtureStart.Add(24*time.Hour), end.Add(24*time.Hour))
	at(13*time.Hour, 200)
	at(24*time.Hour+11*time.Hour, 200)
	at(24*time.Hour+12*time.Hour, 403)
	// Moved earlier again: it ends with the earlier end.
	f.Reschedule(fixtureStart, end)
	at(11*time.Hour, 200)
	f.Reschedule(fixtureStart.Add(-2*time.Hour), end.Add(-2*time.Hour))
	at(11*time.Hour, 403)
}

func firstLine(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}
