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

	"github.com/communehub/communehub/hub/hubtest"
)

// Screens are the sizes every layout test looks at: a common laptop and a
// full-HD office screen.
var Screens = []struct{ W, H int64 }{{1366, 768}, {1920, 1080}}

// LayoutProblems returns what hubtest.LayoutOf finds in the tab of ctx
// (the page scrolls sideways, text cut by its box or an ancestor's), one
// line each.
func LayoutProblems(ctx context.Context) ([]string, error) {
	fs, err := hubtest.LayoutOf(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.String()
	}
	return out, nil
}

// CheckLayout fails the test with what is wrong with the layout of ctx's
// tab (see hubtest.LayoutOf); what says which page at which size. With
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
