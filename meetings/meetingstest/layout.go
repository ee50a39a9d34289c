package meetingstest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// Screens are the sizes every layout test looks at: a common laptop and a
// full-HD office screen.
var Screens = []struct{ W, H int64 }{{1366, 768}, {1920, 1080}}

// layoutJS lists what is wrong with the page's layout: the document wider
// than the window (it scrolls sideways), and any visible element that clips
// its content sideways: overflow other than visible (hidden, clip, auto,
// scroll) with scrollWidth > clientWidth, which hides text behind an edge
// or a scroll bar. Inputs scroll their own text and are left out.
const layoutJS = `(() => {
  const out = [], de = document.documentElement;
  if (de.scrollWidth > de.clientWidth) out.push('the page scrolls sideways: scrollWidth ' + de.scrollWidth + ' > clientWidth ' + de.clientWidth);
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '');
  for (const el of document.body.querySelectorAll('*')) {
    if (['INPUT', 'TEXTAREA', 'SELECT', 'VIDEO', 'AUDIO', 'IFRAME', 'OPTION'].includes(el.tagName)) continue;
    if (!el.getClientRects().length) continue;
    const s = getComputedStyle(el);
    if (s.overflowX === 'visible') continue;
    if (el.scrollWidth <= el.clientWidth + 1) continue;
    // Name the deepest element that sticks out, which is what to fix.
    const edge = el.getBoundingClientRect().left + el.clientLeft + el.clientWidth;
    let culprit = null;
    for (const d of el.querySelectorAll('*')) if (d.getClientRects().length && d.getBoundingClientRect().right > edge + 1) culprit = d;
    out.push(name(el) + ' clips its content (overflow-x ' + s.overflowX + ', scrollWidth ' + el.scrollWidth + ' > clientWidth ' + el.clientWidth + ')' +
      (culprit ? ' at ' + name(culprit) + ' ' + JSON.stringify(culprit.innerText.slice(0, 60)) : '') + ': ' + JSON.stringify(el.innerText.slice(0, 80)));
  }
  return out;
})()`

// LayoutProblems returns what layoutJS finds in the tab of ctx.
func LayoutProblems(ctx context.Context) ([]string, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[[]string](layoutJS))
}

// CheckLayout fails the test with what is wrong with the layout of ctx's
// tab (see layoutJS); what says which page at which size. With
// COMMUNEHUB_SCREENSHOTS set to a directory, it saves a full-page
// screenshot there as what.png, to look at.
func CheckLayout(t testing.TB, ctx context.Context, what string) {
	t.Helper()
	if dir := os.Getenv("COMMUNEHUB_SCREENSHOTS"); dir != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("%s: screenshot: %v", what, err)
		}
		name := strings.NewReplacer("/", "_", " ", "_").Replace(what) + ".png"
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	probs, err := LayoutProblems(ctx)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for _, p := range probs {
		t.Errorf("%s: %s", what, p)
	}
}

// Console records the errors a tab writes to its console (console.error,
// uncaught exceptions and rejections, error entries of the browser log)
// from when WatchConsole is called until the test ends.
type Console struct {
	mu   sync.Mutex
	errs []string
}

// WatchConsole starts recording ctx's tab's console errors; the recording
// stops, and its goroutine returns, at the test's cleanup.
func WatchConsole(t testing.TB, ctx context.Context) *Console {
	t.Helper()
	c := &Console{}
	wctx, cancel := context.WithCancel(ctx)
	msgs := chromedp.Console(wctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			// The browser asks every page it opens for /favicon.ico; the hub
			// has none, and the pages name their own (an empty data: URL).
			if (m.Type == chromedp.ConsoleError || m.IsException()) && !strings.HasSuffix(m.URL, "/favicon.ico") {
				c.mu.Lock()
				c.errs = append(c.errs, fmt.Sprintf("%s (%s:%d)", m.Text, m.URL, m.Line))
				c.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

// Check fails the test with every console error recorded so far.
func (c *Console) Check(t testing.TB, what string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.errs {
		t.Errorf("%s: console error: %s", what, e)
	}
}

// LogIn puts cookie (a session, or a meeting pass) into ctx's tab for the
// server at base, so that the pages opened next are the cookie owner's.
func LogIn(ctx context.Context, base string, cookie *http.Cookie) error {
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/healthz")); err != nil {
		return err
	}
	_, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.cookie = %q`, cookie.Name+"="+cookie.Value+"; path=/")))
	return err
}
