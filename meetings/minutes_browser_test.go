package meetings_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/communehub/communehub/hub/hubtest"
)

// Once the minutes are approved, a member's page links their signed PDF;
// the link downloads it with the member's session, and the page's verify
// button says the signature is valid.
func TestBrowserApprovedMinutesLinkThePDF(t *testing.T) {
	chromium := hubtest.Chromium(t)
	f := newFixture(t)
	base := f.Serve()
	f.Open()
	chair := f.Inv["chutich"]
	f.Must(f.P.CloseMeeting(f.Ctx, chair))
	min, err := f.P.Minutes(f.Ctx, f.Meeting.ID)
	f.Must(err)
	_, err = f.P.ApproveMinutes(f.Ctx, chair, min.Revision)
	f.Must(err)

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), hubtest.ChromeAllocatorOptions(t, chromium)...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, hubtest.Timeout(60*time.Second))
	defer cancelT()
	cookie := f.Session("pct1")
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	link := css(`.proc-minutes a[href$="/minutes.pdf"]`)
	err = chromedp.Do(ctx, chromedp.Navigate(base+"/healthz"))
	if err == nil {
		_, err = chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.cookie = %q`, cookie.Name+"="+cookie.Value+"; path=/")))
	}
	if err == nil {
		err = chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/meetings/%d/paperless", base, f.Meeting.ID)),
			chromedp.WaitVisible(link), chromedp.Click(css(`[data-action="verify"]`)), chromedp.WaitVisible(css(`.proc-minutes button[data-action="verify"] + p.ok`)))
	}
	if err != nil {
		html, _ := chromedp.Run(ctx, chromedp.OuterHTML(css(".proc-minutes")))
		t.Fatalf("the approved minutes panel: %v\n%s", err, html)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async () => {
		const r = await fetch(document.querySelector('.proc-minutes a[href$="/minutes.pdf"]').href);
		const b = new Uint8Array(await r.arrayBuffer());
		return r.status + ' ' + r.headers.get('content-type') + ' ' + String.fromCharCode(...b.slice(0, 5));
	})()`, chromedp.EvalAwaitPromise))
	if err != nil || got != "200 application/pdf %PDF-" {
		t.Fatalf("downloading the PDF from the page: %q %v", got, err)
	}
}
