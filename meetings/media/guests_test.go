package media

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/communehub/communehub/meetings"
	"github.com/communehub/communehub/meetings/meetingstest"
)

// A guest's link: opening it shows a join page and uses nothing up (a chat
// app's link preview may fetch it); the POST that page makes redeems it,
// sets the meeting pass cookie and sends the browser to the page without
// the token. From then on the page, the websocket (and its reconnects) and
// the API take the pass; the link itself is dead: 410 as a page, 403
// naming invite on the websocket and the API.
func TestInviteLinkIsUsedOnce(t *testing.T) {
	f := newFixture(t)
	f.StartFollower()
	s := f.serveMedia("hub-a")
	guest := f.Inv["guest"].ID
	link := fmt.Sprintf("%s/meetings/%d?invite=%s&autojoin=audio", s.base, f.Meeting.ID, f.GuestToken)

	resp, body := f.visit("GET", link)
	if resp.StatusCode != 200 || !strings.Contains(body, `data-reason="join"`) || passIn(resp, f.Meeting.ID) != nil {
		t.Fatalf("opening the link: %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("Referrer-Policy") != "no-referrer" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("the join page may leak its token: %v", resp.Header)
	}
	if f.inviteUsed(guest) {
		t.Fatal("a GET used the link up")
	}

	resp, _ = f.visit("POST", link)
	pass := passIn(resp, f.Meeting.ID)
	clean := fmt.Sprintf("/meetings/%d?autojoin=audio", f.Meeting.ID)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != clean || pass == nil {
		t.Fatalf("redeeming: %d to %q, pass %v", resp.StatusCode, resp.Header.Get("Location"), pass)
	}
	if !pass.HttpOnly || pass.SameSite != http.SameSiteLaxMode || pass.Path != "/" || pass.MaxAge <= 0 {
		t.Errorf("pass cookie %+v", pass)
	}
	if !f.inviteUsed(guest) {
		t.Fatal("the link is not marked used")
	}

	// The page, without the token.
	resp, body = f.visit("GET", s.base+clean, pass)
	if resp.StatusCode != 200 || !strings.Contains(body, "/static/meeting/meeting.js") {
		t.Fatalf("the page with the pass: %d", resp.StatusCode)
	}
	if resp, _ = f.visit("GET", s.base+clean); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("the page with nothing: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The websocket, and a reconnect after a drop, with the pass.
	ws := strings.Replace(s.base, "http", "ws", 1) + fmt.Sprintf("/ws/meetings/%d", f.Meeting.ID)
	for i := range 2 {
		c, _, err := f.dialWith(ws, pass)
		f.Must(err)
		j := c.WaitMsg("joined", nil)
		if me, _ := j["me"].(map[string]any); me["id"] != float64(guest) {
			t.Fatalf("connection %d joined as %v", i, j["me"])
		}
		f.Must(c.Conn.Close()) // a dropped link, not a leave
		c.WaitClosed()
	}
	// The API.
	status, _, b := f.Call("GET", fmt.Sprintf("/api/v1/meetings/%d/proceedings", f.Meeting.ID), "", nil, "Cookie", pass.Name+"="+pass.Value)
	if status != 200 || !strings.Contains(string(b), `"has_invite_link":true`) {
		t.Fatalf("proceedings with the pass: %d %s", status, b)
	}

	// Second use of the link: a page that says so, 410.
	for _, method := range []string{"GET", "POST"} {
		resp, body := f.visit(method, link)
		if resp.StatusCode != http.StatusGone || !strings.Contains(body, `data-reason="used"`) || passIn(resp, f.Meeting.ID) != nil {
			t.Errorf("%s of a used link: %d", method, resp.StatusCode)
		}
		if !strings.Contains(body, "đã được sử dụng") || !strings.Contains(body, "already used") {
			t.Errorf("the used-link page lacks its Vietnamese or English text")
		}
	}
	// …except for the browser that used it: on to the page.
	if resp, _ := f.visit("GET", link, pass); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != clean {
		t.Errorf("the same browser opening its link again: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A used token on the websocket or the API: 403 naming invite.
	_, wsResp, err := f.dialWith(ws + "?invite=" + f.GuestToken)
	if err == nil || wsResp == nil || wsResp.StatusCode != 403 {
		t.Fatalf("websocket with a used token: %v", err)
	}
	b, _ = io.ReadAll(wsResp.Body)
	if meetingstest.ErrorField(t, b) != "invite" || !strings.Contains(string(b), "already used") {
		t.Errorf("websocket refusal %s", b)
	}
	for _, h := range [][]string{nil, {meetings.InviteHeader, f.GuestToken}} {
		path := fmt.Sprintf("/api/v1/meetings/%d/proceedings", f.Meeting.ID)
		if h == nil {
			path += "?invite=" + f.GuestToken
		}
		status, _, b := f.Call("GET", path, "", nil, h...)
		if status != 403 || meetingstest.ErrorField(t, b) != "invite" || !strings.Contains(string(b), "already used") {
			t.Errorf("API with a used token (%v): %d %s", h, status, b)
		}
	}
}

// An unused token is not an API or websocket credential either: it is
// refused (naming invite) and stays unused, so the guest can still open it.
func TestInviteTokenIsNotAnAPICredential(t *testing.T) {
	f := newFixture(t)
	s := f.serveMedia("hub-a")
	ws := strings.Replace(s.base, "http", "ws", 1) + fmt.Sprintf("/ws/meetings/%d?invite=%s", f.Meeting.ID, f.GuestToken)
	_, resp, err := f.dialWith(ws)
	if err == nil || resp.StatusCode != 403 {
		t.Fatalf("websocket with an unused token: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if meetingstest.ErrorField(t, b) != "invite" {
		t.Errorf("websocket refusal %s", b)
	}
	status, _, b := f.Call("GET", fmt.Sprintf("/api/v1/meetings/%d", f.Meeting.ID), "", nil, meetings.InviteHeader, f.GuestToken)
	if status != 403 || meetingstest.ErrorField(t, b) != "invite" {
		t.Errorf("API with an unused token: %d %s", status, b)
	}
	if f.inviteUsed(f.Inv["guest"].ID) {
		t.Error("a refused token was used up")
	}
	status, _, _ = f.Call("GET", "/api/v1/meetings/999999?invite="+f.GuestToken, "", nil)
	if status != 404 {
		t.Errorf("a token for no meeting: %d", status)
	}
}
