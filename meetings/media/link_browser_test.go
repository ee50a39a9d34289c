package media

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/communehub/communehub/hub/hubtest"
	"github.com/communehub/communehub/meetings"
)

// bannerWatchJS records, from the page's first script on, every text the
// meeting page's banner shows, with the time since the page loaded.
const bannerWatchJS = `window.__banners = [];
document.addEventListener('DOMContentLoaded', () => {
  const b = document.getElementById('banner'); if (!b) return;
  const note = () => { if (!b.hidden) window.__banners.push(Math.round(performance.now()) + ' ms: ' + b.textContent); };
  new MutationObserver(note).observe(b, { attributes: true, childList: true, characterData: true, subtree: true });
});`

// loopbackWatch is how long two tabs on loopback are watched for a
// weak-link banner: the warm-up of the banner's rule (link.js), the
// seconds in which the browsers' bandwidth estimates ramp up and the hub's
// level follows them (it showed the banner after about 7 s).
const loopbackWatch = 20 * time.Second

// TestBrowserNoWeakLinkBannerOnLoopback: two people join with camera and
// microphone from two Chromium tabs on loopback, a perfect link; in the
// first seconds the browsers' bandwidth estimates start low and ramp up,
// which is no weak link, and neither page shows the weak-link banner.
func TestBrowserNoWeakLinkBannerOnLoopback(t *testing.T) {
	chromium := hubtest.Chromium(t)
	f := newFixture(t)
	f.StartFollower()
	s := f.serveMedia("hub-a")
	_, token2, err := f.P.Invite(f.Ctx, f.Meeting.ID, meetings.InviteeInput{Name: "Sùng A Páo", Position: "Công an xã", Role: "guest"})
	f.Must(err)
	opts := append(hubtest.ChromeAllocatorOptions(t, chromium), chromedp.Flag("allow-loopback-in-peer-connection", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	f.Must(chromedp.Do(browser))
	open := func(token string) context.Context {
		ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		f.Must(chromedp.Do(ctx))
		if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: bannerWatchJS}); err != nil {
			t.Fatal(err)
		}
		tctx, c2 := context.WithTimeout(ctx, hubtest.Timeout(30*time.Second))
		defer c2()
		f.Must(chromedp.Do(tctx, chromedp.Navigate(fmt.Sprintf("%s/meetings/%d?invite=%s&autojoin=av", s.base, f.Meeting.ID, token))))
		f.Must(hubtest.WaitJS(tctx, 30*time.Second, joinedJS))
		return ctx
	}
	pages := map[string]context.Context{"first": open(f.GuestToken), "second": open(token2)}
	end := time.Now().Add(loopbackWatch) // deadline: not a wait for something; the window is the rule's, watched whole
	var levels []string
	for time.Now().Before(end) {
		for name, ctx := range pages {
			shown, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__banners || []`))
			f.Must(err)
			if len(shown) > 0 {
				t.Fatalf("the %s page showed the banner on loopback: %q; hub levels:%v", name, shown, levels)
			}
		}
		var st statsBody
		f.getJSON(s.base, fmt.Sprintf("/api/v1/meetings/%d/stats", f.Meeting.ID), "canbo", 200, &st)
		now := ""
		for _, p := range st.Participants {
			now += fmt.Sprintf(" %s %s (%d bit/s, loss %.3f)", p.Name, p.Level, p.REMBBps, p.LossDown)
		}
		if len(levels) == 0 || levels[len(levels)-1] != now {
			levels = append(levels, now)
		}
		time.Sleep(250 * time.Millisecond) // sleep: the polling interval
	}
	t.Logf("hub levels on the way: %v", levels)
}

// TestLinkRule runs the weak-link banner's rule (link.js) on reports a
// link would give, 2 s apart as the hub sends them: a perfect link, a
// start-up ramp (a loss spike while the first packets are counted, a low
// uplink estimate climbing) and a level the hub lowered on its own never
// show it; steady loss, a long round trip and an uplink estimate that stays
// below what the least one sends needs show it once past the warm-up and
// the window, and a link that recovers hides it.
func TestLinkRule(t *testing.T) {
	chromium := hubtest.Chromium(t)
	f := newFixture(t)
	s := f.serveMedia("hub-a")
	p := hubtest.NewPage(t, chromium, 30*time.Second)
	p.Do(chromedp.Navigate(s.base + "/static/meeting/link.js"))
	got, err := chromedp.Run(p.Ctx, chromedp.Evaluate[map[string][]int](`(async () => {
  const { LinkWatch, RULE } = await import('/static/meeting/link.js');
  const good = { level: 'high', auto: false, lossDown: 0, lossUp: 0, rttMs: 2 };
  // each scenario: a report every 2 s for 60 s; returns the seconds at which the banner shows
  const run = (at) => { const w = new LinkWatch(0); const on = []; for (let s = 0; s <= 60; s += 2) if (w.add({ ...good, ...at(s) }, s * 1000)) on.push(s); return on; };
  return {
    perfect: run(() => ({})),
    ramp: run((s) => s === 4 ? { lossDown: 0.93 } : s >= 6 && s <= 14 ? { level: 'low', auto: true, upBps: 100000 + s * 20000, upNeedBps: 214000 } : s >= 16 && s <= 18 ? { level: 'screen', auto: true, lossDown: 0.82 } : {}),
    lowered: run((s) => s >= 4 ? { level: 'low', auto: true, upBps: 1200000, upNeedBps: 214000 } : {}),
    loss: run(() => ({ lossDown: 0.1 })),
    uploss: run(() => ({ lossUp: 0.08 })),
    rtt: run(() => ({ rttMs: 900 })),
    short: run((s) => s >= 6 ? { upBps: 120000, upNeedBps: 214000 } : {}),
    late: run((s) => s >= 30 ? { lossUp: 0.12, level: 'low', auto: true } : {}),
    recovers: run((s) => s < 36 ? { lossDown: 0.2 } : {}),
    choice: run(() => ({ level: 'audio', auto: false })),
    rule: [RULE.warmupMs, RULE.windowMs, RULE.clearMs],
  };
})()`, chromedp.EvalAwaitPromise))
	f.Must(err)
	t.Logf("rule (warm-up, window, clear in ms): %v", got["rule"])
	first := func(s []int) int {
		if len(s) == 0 {
			return -1
		}
		return s[0]
	}
	for name, want := range map[string]int{"perfect": -1, "ramp": -1, "lowered": -1, "choice": -1, "loss": 20, "uploss": 20, "rtt": 20, "short": 20, "late": 40, "recovers": 20} {
		if first(got[name]) != want {
			t.Errorf("%s: the banner shows at %v s, want from %d s (-1: never)", name, got[name], want)
		}
	}
	if r := got["recovers"]; len(r) == 0 || r[len(r)-1] != 40 {
		t.Errorf("recovers: the banner shows at %v s, want it gone after 40 s (good from 36 s, clear after 6 s)", r)
	}
}
