package media

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/communehub/communehub/hub/hubtest"
	"github.com/communehub/communehub/meetings/meetingstest"
)

// TestBrowserRevokedGuestStaysOut: a guest in the meeting room is removed
// by staff; the page says so (Vietnamese, English after the switch) and
// does not reconnect — a retry would replace the message with the
// reconnecting and then the denied one.
func TestBrowserRevokedGuestStaysOut(t *testing.T) {
	chromium := hubtest.Chromium(t)
	f := newFixture(t)
	f.StartFollower()
	s := f.serveMedia("hub-a")

	guest, _ := guestInRoom(chromium, f, s)

	f.JSON("DELETE", fmt.Sprintf("/api/v1/meetings/%d/invitees/%d", f.Meeting.ID, f.Inv["guest"].ID), "admin", nil, 204, nil)
	guest.Do(meetingstest.Void(chromedp.Poll[bool](`document.body.dataset.state === 'revoked'`, chromedp.WithPollingTimeout(hubtest.Timeout(5*time.Second)))))
	const vi = "Bạn không còn quyền tham dự cuộc họp này"
	if got := guest.Text(`#banner`); got != vi {
		t.Errorf("the page says %q", got)
	}
	time.Sleep(hubtest.Timeout(2500 * time.Millisecond)) // sleep: a quiet window past the first reconnect delay (1 s)
	if got := guest.Text(`#banner`); got != vi {
		t.Errorf("after a while the page says %q: it tried again", got)
	}
	guest.Do(chromedp.Click(chromedp.CSS(`#lang`)))
	if got := guest.Text(`#banner`); got != "You no longer have access to this meeting" {
		t.Errorf("in English the page says %q", got)
	}
}
