package media

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/meetings"
	"github.com/communehub/communehub/meetings/meetingstest"
)

// A pass admits its holder to its own meeting only: not to another
// meeting (under either meeting's cookie name), not to staff routes, not
// to the hub's own API, and on the hub's event socket to its own
// meeting's topics only.
func TestMeetingPassGrantsNothingElse(t *testing.T) {
	f := newFixture(t)
	s := f.serveMedia("hub-a")
	online := true
	other, err := f.P.CreateMeeting(f.Ctx, nil, meetings.MeetingInput{Unit: "03244", Title: "Họp khác", StartsAt: fixtureStart, Online: &online, Seats: 3})
	f.Must(err)
	_, _, err = f.P.Invite(f.Ctx, other.ID, meetings.InviteeInput{Name: "Khách khác", Role: "guest"})
	f.Must(err)
	pass := f.Cookie("guest")
	asOther := &http.Cookie{Name: meetings.PassCookie(other.ID), Value: pass.Value}
	for _, c := range []*http.Cookie{pass, asOther} {
		for _, path := range []string{"", "/proceedings", "/events", "/documents", "/votes", "/minutes"} {
			resp, _ := f.visit("GET", fmt.Sprintf("%s/api/v1/meetings/%d%s", s.base, other.ID, path), c)
			if resp.StatusCode != 401 && resp.StatusCode != 403 {
				t.Errorf("the pass as %s reads meeting %d%s: %d", c.Name, other.ID, path, resp.StatusCode)
			}
		}
		if resp, _ := f.visit("GET", fmt.Sprintf("%s/meetings/%d", s.base, other.ID), c); resp.StatusCode == 200 {
			t.Errorf("the pass as %s opens the other meeting's page", c.Name)
		}
		u := strings.Replace(s.base, "http", "ws", 1) + fmt.Sprintf("/ws/meetings/%d", other.ID)
		if _, resp, err := f.dialWith(u, c); err == nil || (resp.StatusCode != 401 && resp.StatusCode != 403) {
			t.Errorf("the pass as %s joins the other meeting", c.Name)
		}
	}
	own := fmt.Sprintf("/api/v1/meetings/%d", f.Meeting.ID)
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/v1/me"}, {"GET", "/api/v1/meetings"}, {"GET", "/api/v1/units"}, {"GET", own + "/stats"},
		{"POST", own + "/invitees"}, {"POST", fmt.Sprintf("%s/invitees/%d/link", own, f.Inv["guest"].ID)},
		{"POST", own + "/cancel"},
	} {
		if resp, _ := f.visit(r.method, s.base+r.path, pass); resp.StatusCode != 401 {
			t.Errorf("%s %s with a pass: %d, want 401", r.method, r.path, resp.StatusCode)
		}
	}
	// On the hub's event socket it follows its own meeting's topics only.
	ev := strings.Replace(s.base, "http", "ws", 1) + "/ws?topic="
	for _, topic := range []string{meetings.LogTopic(other.ID), meetings.StateTopic(other.ID), meetings.AccessTopic(f.Meeting.ID), "commune/03244/kpi", meetings.UnitTopic("03244")} {
		for _, c := range []*http.Cookie{pass, asOther} {
			if _, resp, err := f.dialWith(ev+topic, c); err == nil || resp.StatusCode != 403 && resp.StatusCode != 401 {
				t.Errorf("the hub's event socket with the pass as %s follows %s: %v", c.Name, topic, err)
			}
		}
	}
	if _, _, err := f.dialWith(ev+meetings.LogTopic(f.Meeting.ID), pass); err != nil {
		t.Errorf("the pass does not follow its own meeting's log: %v", err)
	}
	if resp, _ := f.visit("GET", s.base+own, pass); resp.StatusCode != 200 {
		t.Errorf("the pass does not read its own meeting: %d", resp.StatusCode)
	}
}

// Staff issue a guest a new link: it works once, the old link is dead
// (403 page, 403 on the API), and whoever holds the old pass is out.
func TestReissuedInviteLink(t *testing.T) {
	f := newFixture(t)
	f.StartFollower()
	s := f.serveMedia("hub-a")
	guest := f.Inv["guest"].ID
	oldPass := f.Cookie("guest")
	reissue := fmt.Sprintf("/api/v1/meetings/%d/invitees/%d/link", f.Meeting.ID, guest)
	f.JSON("POST", reissue, "", nil, 401, nil)
	f.JSON("POST", reissue, "pct1", nil, 403, nil) // an invitee without a staff role
	f.JSON("POST", fmt.Sprintf("/api/v1/meetings/%d/invitees/%d/link", f.Meeting.ID, f.Inv["pct1"].ID), "admin", nil, 409, nil)
	f.JSON("POST", fmt.Sprintf("/api/v1/meetings/%d/invitees/999999/link", f.Meeting.ID), "admin", nil, 404, nil)
	var out struct {
		Invitee     meetings.Invitee `json:"invitee"`
		InviteToken string           `json:"invite_token"`
		InviteURL   string           `json:"invite_url"`
	}
	f.JSON("POST", reissue, "canbo", nil, 201, &out)
	if out.Invitee.ID != guest || out.InviteToken == f.GuestToken || !strings.HasSuffix(out.InviteURL, "?invite="+out.InviteToken) {
		t.Fatalf("reissued %+v", out)
	}

	ws := strings.Replace(s.base, "http", "ws", 1) + fmt.Sprintf("/ws/meetings/%d", f.Meeting.ID)
	if _, resp, err := f.dialWith(ws, oldPass); err == nil || resp.StatusCode != 403 {
		t.Errorf("the old pass still joins: %v", err)
	}
	resp, body := f.visit("GET", fmt.Sprintf("%s/meetings/%d", s.base, f.Meeting.ID), oldPass)
	if resp.StatusCode != 403 || !strings.Contains(body, `data-reason="ended"`) {
		t.Errorf("the page with the old pass: %d", resp.StatusCode)
	}
	if c := resp.Cookies(); len(c) != 1 || c[0].Name != oldPass.Name || c[0].Value != "" || !c[0].Expires.Before(time.Now()) {
		t.Errorf("the ended pass is not cleared: %v", c)
	}
	status, _, b := f.Call("GET", fmt.Sprintf("/api/v1/meetings/%d", f.Meeting.ID), "", nil, "Cookie", oldPass.Name+"="+oldPass.Value)
	if status != 403 || meetingstest.ErrorField(t, b) != oldPass.Name {
		t.Errorf("the API with the old pass: %d %s", status, b)
	}
	old := fmt.Sprintf("%s/meetings/%d?invite=%s", s.base, f.Meeting.ID, f.GuestToken)
	for _, method := range []string{"GET", "POST"} {
		if resp, body := f.visit(method, old); resp.StatusCode != 403 || !strings.Contains(body, `data-reason="invalid"`) {
			t.Errorf("%s of the old link: %d", method, resp.StatusCode)
		}
	}

	resp, _ = f.visit("POST", s.base+out.InviteURL)
	pass := passIn(resp, f.Meeting.ID)
	if resp.StatusCode != http.StatusSeeOther || pass == nil {
		t.Fatalf("the new link: %d", resp.StatusCode)
	}
	c, _, err := f.dialWith(ws, pass)
	f.Must(err)
	c.WaitMsg("joined", nil)
	if resp, _ := f.visit("POST", s.base+out.InviteURL); resp.StatusCode != http.StatusGone {
		t.Errorf("the new link twice: %d", resp.StatusCode)
	}
}

// A pass stops admitting when its invitee is removed (even one holding a
// rejoin ticket) and once the meeting is long over.
func TestMeetingPassEnds(t *testing.T) {
	f := newFixture(t)
	s := f.serveMedia("hub-a")
	ws := strings.Replace(s.base, "http", "ws", 1) + fmt.Sprintf("/ws/meetings/%d", f.Meeting.ID)
	api := fmt.Sprintf("%s/api/v1/meetings/%d", s.base, f.Meeting.ID)

	// Over: 12 hours after the planned end (here: the start).
	pass := f.Cookie("guest")
	if resp, _ := f.visit("GET", api, pass); resp.StatusCode != 200 {
		t.Fatalf("fresh pass: %d", resp.StatusCode)
	}
	f.Clock.Set(fixtureStart.Add(13 * time.Hour))
	if resp, _ := f.visit("GET", api, pass); resp.StatusCode != 403 {
		t.Errorf("a pass 13 hours after the meeting: %d", resp.StatusCode)
	}
	_, err := f.Pool.Exec(f.Ctx, `UPDATE meetings SET starts_at = $2 WHERE id=$1`, f.Meeting.ID, f.Clock.Now().Add(24*time.Hour))
	f.Must(err)
	if resp, _ := f.visit("GET", api, pass); resp.StatusCode != 200 {
		t.Errorf("a pass of a meeting moved to tomorrow: %d", resp.StatusCode)
	}

	// Removed, with a rejoin ticket outstanding.
	_, err = s.media.owners.newTicket(f.Ctx, f.Meeting.ID, f.Inv["guest"].ID, rejoinTicketTTL)
	f.Must(err)
	f.JSON("DELETE", fmt.Sprintf("/api/v1/meetings/%d/invitees/%d", f.Meeting.ID, f.Inv["guest"].ID), "admin", nil, 204, nil)
	if resp, _ := f.visit("GET", api, pass); resp.StatusCode != 403 {
		t.Errorf("a removed guest's pass reads the meeting: %d", resp.StatusCode)
	}
	if _, resp, err := f.dialWith(ws, pass); err == nil || resp.StatusCode != 403 {
		t.Errorf("a removed guest's pass joins: %v", err)
	}
	if n := f.Count(`SELECT count(*) FROM meeting_passes`) + f.Count(`SELECT count(*) FROM meeting_media_tickets`); n != 0 {
		t.Errorf("%d passes and tickets outlive the invitee", n)
	}
}

// With two instances, a guest who reaches the one that does not carry the
// meeting follows the redirect: the ticket in its page URL becomes a pass
// on the owner, with which the websocket and the API work there.
func TestRedirectTicketBecomesAPass(t *testing.T) {
	f := newFixture(t)
	a := f.serveMedia("hub-a")
	b := f.serveMedia("hub-b")
	first, _, err := f.dialMedia(a, "chutich", "")
	f.Must(err)
	first.WaitMsg("joined", nil)

	guest, _, err := f.dialMedia(b, "guest", "audio=1")
	f.Must(err)
	r := guest.WaitMsg("redirect", nil)
	page, _ := r["url"].(string)
	if !strings.HasPrefix(page, a.base) || !strings.Contains(page, "ticket=") {
		t.Fatalf("redirect to %q", page)
	}
	resp, _ := f.visit("GET", page)
	pass := passIn(resp, f.Meeting.ID)
	want := fmt.Sprintf("/meetings/%d?audio=1", f.Meeting.ID)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want || pass == nil {
		t.Fatalf("following the redirect: %d to %q, pass %v", resp.StatusCode, resp.Header.Get("Location"), pass)
	}
	moved, _, err := f.dialWith(strings.Replace(a.base, "http", "ws", 1)+fmt.Sprintf("/ws/meetings/%d?audio=1", f.Meeting.ID), pass)
	f.Must(err)
	j := moved.WaitMsg("joined", nil)
	if me, _ := j["me"].(map[string]any); me["id"] != float64(f.Inv["guest"].ID) || j["instance"] != "hub-a" {
		t.Fatalf("joined %v", j)
	}
	if resp, _ := f.visit("GET", fmt.Sprintf("%s/api/v1/meetings/%d/proceedings", a.base, f.Meeting.ID), pass); resp.StatusCode != 200 {
		t.Errorf("the API on the owner with the pass: %d", resp.StatusCode)
	}
	if resp, body := f.visit("GET", page); resp.StatusCode != 403 || !strings.Contains(body, `data-reason="ticket"`) {
		t.Errorf("the ticket twice: %d", resp.StatusCode)
	}
}
