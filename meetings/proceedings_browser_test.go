package meetings_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/communehub/communehub/meetings"

	"github.com/chromedp/chromedp"

	"github.com/communehub/communehub/hub/hubtest"
)

// TestBrowserChairOpensVoteMembersVote: the chair and two members each have
// the paperless page open in their own browser context; the chair opens the
// meeting and a vote, the members vote from their pages, the chair closes
// the vote and every page shows the result.
func TestBrowserChairOpensVoteMembersVote(t *testing.T) {
	chromium := hubtest.Chromium(t)
	f := newFixture(t)
	base := f.Serve()
	f.Clock.Set(time.Now())
	f.Now = time.Now
	f.Reschedule(time.Now(), time.Now().Add(2*time.Hour)) // the guest's link works until 12 hours after
	f.Must(f.P.Join(f.Ctx, f.Inv["thuky"], AttInHall))

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), hubtest.ChromeAllocatorOptions(t, chromium)...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	if err := chromedp.Do(browser); err != nil {
		t.Fatal(err)
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	page := func(user string) context.Context {
		ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		url := fmt.Sprintf("%s/meetings/%d/paperless", base, f.Meeting.ID)
		if user == "guest" { // no account: the invite link, and the log by polling
			if err := chromedp.Do(ctx, chromedp.Navigate(url+"?invite="+f.GuestToken), chromedp.WaitVisible(css(`body[data-ready="true"]`))); err != nil {
				t.Fatalf("guest's page: %v", err)
			}
			return ctx
		}
		cookie := f.Session(user)
		err := chromedp.Do(ctx, chromedp.Navigate(base+"/healthz"))
		if err == nil {
			_, err = chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.cookie = %q`, cookie.Name+"="+cookie.Value+"; path=/")))
		}
		if err == nil {
			err = chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(css(`body[data-ready="true"]`)))
		}
		if err != nil {
			t.Fatalf("%s's page: %v", user, err)
		}
		return ctx
	}
	run := func(ctx context.Context, who string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		tctx, cancel := context.WithTimeout(ctx, hubtest.Timeout(30*time.Second))
		defer cancel()
		if err := chromedp.Do(tctx, steps...); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML(css(".proc")))
			t.Fatalf("%s: %v\npage: %s", who, err, html)
		}
	}
	text := func(ctx context.Context, sel string) string {
		t.Helper()
		tctx, cancel := context.WithTimeout(ctx, hubtest.Timeout(30*time.Second))
		defer cancel()
		s, err := chromedp.Run(tctx, chromedp.Text(css(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	chair, m1, m2, guest := page("chutich"), page("pct1"), page("pct2"), page("guest")

	run(chair, "chair opens the meeting and a vote",
		chromedp.WaitVisible(css(`[data-action="open-meeting"]`)),
		chromedp.Click(css(`[data-action="open-meeting"]`)),
		chromedp.WaitVisible(css(`form.proc-open-vote`)),
		chromedp.SendKeys(css(`form.proc-open-vote input[name=question]`), "Thông qua kế hoạch sửa đường bản Huổi Lụ"),
		chromedp.Click(css(`form.proc-open-vote button[type=submit]`)),
		chromedp.WaitVisible(css(`[data-action="close-vote"]`)),
	)
	run(m1, "first member votes yes",
		chromedp.WaitVisible(css(`[data-action="vote-yes"]`)),
		chromedp.Click(css(`[data-action="vote-yes"]`)),
		chromedp.WaitVisible(css(`.proc-voted`)),
	)
	run(m2, "second member votes no",
		chromedp.WaitVisible(css(`[data-action="vote-no"]`)),
		chromedp.Click(css(`[data-action="vote-no"]`)),
		chromedp.WaitVisible(css(`.proc-voted`)),
	)
	tctx, cancel := context.WithTimeout(chair, hubtest.Timeout(30*time.Second))
	_, err := chromedp.Run(tctx, chromedp.Poll[bool](`(() => { const e = document.querySelector('.proc-votecount'); return !!e && e.textContent.includes(' 2/'); })()`,
		chromedp.WithPollingTimeout(hubtest.Timeout(20*time.Second))))
	cancel()
	if err != nil {
		t.Fatalf("the chair's page never counted both votes (%q): %v", text(chair, ".proc-vote"), err)
	}
	run(chair, "chair closes the vote",
		chromedp.Click(css(`[data-action="close-vote"]`)),
		chromedp.WaitVisible(css(`.proc-result`)),
	)
	run(m2, "member sees the result", chromedp.WaitVisible(css(`.proc-result`)))
	run(guest, "the guest (polling) sees the result and asks for the floor",
		chromedp.WaitVisible(css(`.proc-result`)),
		chromedp.Click(css(`[data-action="raise-hand"]`)),
		chromedp.WaitVisible(css(`[data-action="lower-hand"]`)),
	)
	run(chair, "the chair sees the guest's hand and gives the floor",
		chromedp.WaitVisible(css(`.proc-hands [data-action="give-floor"]`)),
		chromedp.Click(css(`.proc-hands [data-action="give-floor"]`)),
		chromedp.WaitVisible(css(`[data-action="end-floor"]`)),
	)
	if got := text(chair, ".proc-queue p"); !strings.Contains(got, "Giàng A Chu") {
		t.Fatalf("the chair's page shows %q as speaking", got)
	}
	chairResult, memberResult := text(chair, ".proc-result"), text(m2, ".proc-result")
	// 1 yes of 6 seats: not passed.
	if !strings.Contains(chairResult, "KHÔNG THÔNG QUA") || chairResult != memberResult {
		t.Fatalf("result on the chair's page %q, on a member's %q", chairResult, memberResult)
	}
	vs, err := f.P.Votes(f.Ctx, f.Meeting.ID)
	f.Must(err)
	if len(vs) != 1 || vs[0].Result.Yes != 1 || vs[0].Result.No != 1 || len(vs[0].Ballots) != 2 {
		t.Fatalf("recorded %+v", vs)
	}
	st, err := f.P.State(f.Ctx, f.Meeting.ID)
	f.Must(err)
	for _, u := range []string{"chutich", "pct1", "pct2", "guest"} {
		if st.StatusOf(f.Inv[u].ID) != AttOnline {
			t.Errorf("%s's page did not record presence: %s", u, st.StatusOf(f.Inv[u].ID))
		}
	}
}
