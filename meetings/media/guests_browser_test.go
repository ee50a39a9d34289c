package media

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/communehub/communehub/hub/hubtest"
	"github.com/communehub/communehub/meetings"
)

// guestInRoom opens the fixture's guest invite link (audio only) in a new
// Chromium; the link's page redeems it and replaces itself with the room,
// and guestInRoom returns once the page has joined, with the link.
func guestInRoom(chromium string, f *fixture, s *mediaServer) (*hubtest.Page, string) {
	link := fmt.Sprintf("%s/meetings/%d?invite=%s&autojoin=audio", s.base, f.Meeting.ID, f.GuestToken)
	guest := hubtest.NewPage(f.T, chromium, time.Minute)
	guest.Do(chromedp.Navigate(link))
	guest.WaitJS(20*time.Second, joinedJS)
	return guest, link
}

// TestBrowserGuestInviteLink: a guest opens their invite link in Chromium
// and lands in the meeting room at the address without the token; a
// reload joins again with the meeting pass alone. Someone else opening the
// same link afterwards gets the used-link page, in Vietnamese and, after
// the switch, in English.
func TestBrowserGuestInviteLink(t *testing.T) {
	chromium := hubtest.Chromium(t)
	f := newFixture(t)
	f.StartFollower()
	s := f.serveMedia("hub-a")

	guest, link := guestInRoom(chromium, f, s)
	where, err := chromedp.Run(guest.Ctx, chromedp.Evaluate[string](`location.pathname + location.search`))
	if err != nil || where != fmt.Sprintf("/meetings/%d?autojoin=audio", f.Meeting.ID) {
		t.Fatalf("the room is at %q (%v), want the link without its token", where, err)
	}
	waitUntil(t, 10*time.Second, "the guest is online", func() bool {
		st, err := f.P.State(f.Ctx, f.Meeting.ID)
		return err == nil && st.StatusOf(f.Inv["guest"].ID) == meetings.AttOnline
	})
	guest.Do(chromedp.Reload())
	guest.WaitJS(20*time.Second, joinedJS)

	other := hubtest.NewPage(t, chromium, time.Minute) // another browser, another cookie jar
	other.Do(chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`.why-used`)))
	if got := other.Text(`.why-used h1`); got != "Đường dẫn mời này đã được sử dụng" {
		t.Errorf("the used-link page says %q", got)
	}
	other.Do(chromedp.Click(chromedp.CSS(`#lang`)))
	if got := other.Text(`.why-used h1`); got != "This invite link was already used" {
		t.Errorf("in English the used-link page says %q", got)
	}
}
