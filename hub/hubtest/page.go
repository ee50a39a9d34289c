package hubtest

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Page is a headless Chromium tab for page tests. Do runs actions and, when
// one fails, fails the test with the page's address and visible text, which
// is what one needs to see why a page test failed.
type Page struct {
	t    testing.TB
	Ctx  context.Context // the tab, bounded by the timeout given to NewPage
	root context.Context // the tab without that bound, for the failure dump
}

// NewPage opens a tab in a fresh Chromium (path from Chromium(t)) whose
// actions must finish within timeout; everything is closed at cleanup.
func NewPage(t testing.TB, chromium string, timeout time.Duration) *Page {
	t.Helper()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), ChromeAllocatorOptions(t, chromium)...)
	root, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(root, timeout)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	return &Page{t: t, Ctx: ctx, root: root}
}

// Do runs steps in the tab; on error the test fails with the page's state.
func (p *Page) Do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.Ctx, steps...); err != nil {
		dctx, cancel := context.WithTimeout(p.root, 5*time.Second)
		defer cancel()
		body, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
		p.t.Fatalf("%v; page:\n%s", err, body)
	}
}

// Text returns the visible text of the first element matching sel.
func (p *Page) Text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.Ctx, chromedp.Text(sel))
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}
