package media

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/communehub/communehub/hub/hubtest"
	"github.com/communehub/communehub/meetings/meetingstest"
)

// TestBrowserMeetingPageLayout: at 1366×768 and 1920×1080, the meeting
// page's lobby shows the meeting's title, its time in Vietnam time and its
// chair, and no toolbar; once joined the toolbar shows, and neither the
// lobby nor the room scrolls sideways or clips text (the proceedings column
// beside the video wraps it); the console stays clean.
func TestBrowserMeetingPageLayout(t *testing.T) {
	chromium := hubtest.Chromium(t)
	f := newFixture(t)
	f.StartFollower()
	s := f.serveMedia("hub-a")
	for _, sz := range meetingstest.Screens {
		what := fmt.Sprintf("meeting %dx%d", sz.W, sz.H)
		opts := append(hubtest.ChromeAllocatorOptions(t, chromium), chromedp.Flag("allow-loopback-in-peer-connection", true))
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		t.Cleanup(cancelAlloc)
		tab, cancelTab := chromedp.NewContext(alloc)
		t.Cleanup(cancelTab)
		ctx, cancel := context.WithTimeout(tab, hubtest.Timeout(60*time.Second))
		t.Cleanup(cancel)
		f.Must(chromedp.Do(ctx, chromedp.EmulateViewport(sz.W, sz.H)))
		f.Must(meetingstest.LogIn(ctx, s.base, f.Session("thuky")))
		con := meetingstest.WatchConsole(t, ctx)
		f.Must(chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/meetings/%d", s.base, f.Meeting.ID))))
		f.Must(hubtest.WaitJS(ctx, 20*time.Second, `document.body.dataset.ready === 'true' && document.getElementById('lobby-meeting').textContent.includes('Lò Văn Minh')`))
		lobby, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`({
  text: document.getElementById('lobby').innerText,
  toolbar: !!document.querySelector('.mt-controls') && document.querySelector('.mt-controls').getClientRects().length > 0,
  room: document.getElementById('room').getClientRects().length > 0 })`))
		f.Must(err)
		text, _ := lobby["text"].(string)
		for _, want := range []string{f.Meeting.Title, "08:00", "01/12/2026", "Lò Văn Minh"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s: the lobby does not show %q: %q", what, want, text)
			}
		}
		if lobby["toolbar"] == true || lobby["room"] == true {
			t.Errorf("%s: the room or its toolbar shows in the lobby: %v", what, lobby)
		}
		meetingstest.CheckLayout(t, ctx, what+" lobby")
		f.Must(chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#join-audio`))))
		f.Must(hubtest.WaitJS(ctx, 30*time.Second, joinedJS+` && document.querySelector('.mt-controls').getClientRects().length > 0 &&
			document.querySelectorAll('#proceedings .proc-agenda li').length === 3`))
		meetingstest.CheckLayout(t, ctx, what+" room")
		con.Check(t, what)
	}
}
