package hubtest

import (
	"context"
	_ "embed"
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

//go:embed layout.js
var layoutJS string

// Finding is one layout defect Layout found on a page.
type Finding struct {
	Kind     string `json:"kind"`     // "overflow", "clipped" or "console"
	Selector string `json:"selector"` // a CSS path to the element (for console: the script's URL:line)
	Text     string `json:"text"`     // the element's text (for console: the message)
	Detail   string `json:"detail"`   // what is wrong, in pixels
}

func (f Finding) String() string {
	s := f.Kind + " " + f.Selector
	if f.Text != "" {
		s += fmt.Sprintf(" %q", f.Text)
	}
	if f.Detail != "" {
		s += ": " + f.Detail
	}
	return s
}

// Findings formats a list of findings, one a line, for a failure message.
func Findings(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("\n\t" + f.String())
	}
	return b.String()
}

// Layout checks the page as it is now, at the current viewport, and
// returns what a person would see wrong:
//
//   - overflow: the page scrolls sideways (documentElement.scrollWidth >
//     clientWidth); one finding for the page and one for each deepest
//     element whose right edge passes the viewport (up to 8; position:
//     fixed elements are left out).
//   - clipped: an element with text of its own (a non-blank text node
//     child), shown (not display:none, visibility:hidden, [hidden] or
//     aria-hidden, and larger than 1×1 px, which is the visually-hidden
//     pattern), whose text is cut: either the element itself has overflow
//     hidden or clip on an axis and its content is larger than its box on
//     that axis by more than 1 px (scrollWidth > clientWidth + 1,
//     scrollHeight > clientHeight + 1), or its nearest ancestor with
//     overflow hidden or clip cuts its box by more than 1 px. Not flagged:
//     anything under an ancestor with overflow auto or scroll met first (a
//     scroll container: its content can be reached); an element wholly
//     outside the clipping ancestor (hidden on purpose: a slide, a ticker's
//     next item); a deliberate truncation — text-overflow: ellipsis or a
//     line clamp on the element or the clipping ancestor, with the full text
//     in the title attribute of it or an ancestor; anything under an
//     element with the attribute data-layout-clip (a page's documented
//     opt-out); script, style, option and textarea.
//   - console: each console.error, uncaught exception, unhandled
//     rejection and browser log error (a failed request) since the tab
//     opened or since the last call of Layout, whichever is later, so that
//     a test loading pages one after another in a tab gets each page's own.
//     A failed /favicon.ico is left out: the browser asks for it, not the
//     page.
//
// Wait until the page shows its data before calling it (see Settle).
func (p *Page) Layout() ([]Finding, error) {
	fs, err := LayoutOf(p.Ctx)
	if err != nil {
		return nil, err
	}
	p.log.mu.Lock()
	msgs := p.log.msgs
	p.log.msgs = nil
	p.log.mu.Unlock()
	for _, m := range msgs {
		if m.Source == "network" && strings.HasSuffix(m.URL, "/favicon.ico") {
			continue // asked for by the browser, not the page
		}
		where := m.URL
		if where != "" {
			where += fmt.Sprintf(":%d", m.Line+1)
		}
		kind := string(m.Type)
		if m.Source != "" {
			kind = m.Source + " " + kind
		}
		fs = append(fs, Finding{Kind: "console", Selector: where, Text: m.Text, Detail: kind})
	}
	return fs, nil
}

// LayoutOf runs Layout's overflow and clipping checks (not the console
// one, which needs the tab's log from its start: see Page) in the tab of
// ctx, for tests that drive their own tabs.
func LayoutOf(ctx context.Context) ([]Finding, error) {
	fs, err := chromedp.Run(ctx, chromedp.Evaluate[[]Finding](layoutJS))
	if err != nil {
		return nil, fmt.Errorf("layout check: %w", err)
	}
	return fs, nil
}

// Settle waits (up to timeout, scaled by Timeout) until the document has
// loaded and its DOM has not changed for quiet, so that a page that fetches
// its data after load is checked with the data in place. A page that
// changes all the time (a clock) settles between two changes.
func (p *Page) Settle(timeout, quiet time.Duration) {
	p.t.Helper()
	js := fmt.Sprintf(`document.readyState === 'complete' && new Promise((resolve) => {
		let timer;
		const obs = new MutationObserver(() => { clearTimeout(timer); timer = setTimeout(done, %[1]d); });
		const done = () => { obs.disconnect(); resolve(true); };
		obs.observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
		timer = setTimeout(done, %[1]d);
		setTimeout(() => { obs.disconnect(); resolve(false); }, %[1]d * 4);
	})`, quiet.Milliseconds())
	p.WaitJS(timeout, js)
}
