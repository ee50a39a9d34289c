package hubtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
	log  *consoleLog     // shared by the copies For makes
}

// consoleLog holds the tab's console errors and exceptions not yet taken
// by Layout; the tab's listener goroutine appends to it.
type consoleLog struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

// For returns the page with failures going to t: a subtest's, so that a
// test reusing one tab in subtests fails the subtest, not its parent.
func (p *Page) For(t testing.TB) *Page {
	return &Page{t: t, Ctx: p.Ctx, root: p.root, log: p.log}
}

// NewPage opens a tab in a fresh Chromium (path from Chromium(t)) whose
// actions must finish within timeout (scaled by Timeout); everything is
// closed at cleanup. From the tab's start it records the console errors and
// uncaught exceptions, which Layout reports.
func NewPage(t testing.TB, chromium string, timeout time.Duration) *Page {
	t.Helper()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), ChromeAllocatorOptions(t, chromium)...)
	root, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(root, Timeout(timeout))
	p := &Page{t: t, Ctx: ctx, root: root, log: &consoleLog{}}
	// Console subscribes (and starts the browser) before it returns, so
	// nothing the first page writes is lost. The goroutine ends with the
	// tab; cleanup waits for it.
	messages := chromedp.Console(root)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				p.log.mu.Lock()
				p.log.msgs = append(p.log.msgs, m)
				p.log.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc(); <-done })
	return p
}

// Do runs steps in the tab; on error the test fails with the page's state.
func (p *Page) Do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.Ctx, steps...); err != nil {
		p.fail(err)
	}
}

// fail fails the test with err and the page's address and visible text.
func (p *Page) fail(err error) {
	p.t.Helper()
	dctx, cancel := context.WithTimeout(p.root, Timeout(5*time.Second))
	defer cancel()
	body, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
	p.t.Fatalf("%v; page:\n%s", err, body)
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

// WaitJS evaluates expr in ctx's tab every 50 ms until it is true, and
// returns an error saying why (the last evaluation's error, or that it
// stayed false) when timeout (scaled by Timeout) passes first. expr may be a promise. Each
// evaluation runs in the page as it is at that moment, so a navigation in
// between (a redirect after a form, a reload) is waited out: chromedp.Poll
// stays with the document it began in, and fails or throws when that
// document goes away.
func WaitJS(ctx context.Context, timeout time.Duration, expr string) error {
	deadline := time.Now().Add(Timeout(timeout))
	js := "(async () => !!(await (" + expr + ")))()"
	for {
		ectx, cancel := context.WithTimeout(ctx, max(time.Until(deadline), Timeout(200*time.Millisecond)))
		ok, err := chromedp.Run(ectx, chromedp.Evaluate[bool](js, chromedp.EvalAwaitPromise))
		cancel()
		switch {
		case err == nil && ok:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case time.Now().After(deadline):
			if err == nil {
				err = errors.New("still false")
			}
			return fmt.Errorf("%v waiting for %s: %w", Timeout(timeout), expr, err)
		}
		time.Sleep(50 * time.Millisecond) // sleep: the polling interval
	}
}

// WaitJS waits up to timeout for expr to be true in the tab (see the
// function WaitJS); if it is not, the test fails with the page's state.
func (p *Page) WaitJS(timeout time.Duration, expr string) {
	p.t.Helper()
	if err := WaitJS(p.Ctx, timeout, expr); err != nil {
		p.fail(err)
	}
}
