package alerts

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/communehub/communehub/hub/hubtest"
)

// The "Thông báo" page in a real Chromium fits 1366×768 and 1920×1080 in
// both languages; an admin adds a webhook channel through the form (a bad
// URL first, whose message sits next to the URL field), sends a test
// message, which calls the webhook exactly once, and sees it sent in the
// recent sends.
func TestAlertsPage(t *testing.T) {
	t.Parallel()
	chrome := hubtest.Chromium(t)
	h := startWebHub(t, fastConfig())
	hook := newRecorder(t, `{}`)
	tab := hubtest.NewPage(t, chrome, 3*time.Minute)
	tab.Do(chromedp.Navigate(h.base + "/login"))
	tab.WaitJS(30*time.Second, `fetch('/api/v1/login', {method: 'POST', headers: {'Content-Type': 'application/json'},
		body: JSON.stringify({username: 'quantri', password: 'quan-tri-mat-khau'})}).then((r) => r.ok)`)
	tab.Do(chromedp.Navigate(h.base + "/alerts"))
	tab.WaitJS(20*time.Second, `document.querySelector('#channels tbody td') !== null && document.querySelector('#sends tbody td') !== null`)
	if _, err := tab.Layout(); err != nil { // the login page's messages
		t.Fatal(err)
	}
	for _, size := range [][2]int64{{1366, 768}, {1920, 1080}} {
		for _, lang := range []string{"vi", "en"} {
			tab.Do(chromedp.EmulateViewport(size[0], size[1]))
			tab.WaitJS(10*time.Second, fmt.Sprintf(`(document.documentElement.lang === %q) || (document.getElementById('lang').click(), false)`, lang))
			tab.Settle(10*time.Second, 300*time.Millisecond)
			fs, err := tab.Layout()
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) > 0 {
				t.Errorf("/alerts at %dx%d (%s):%s", size[0], size[1], lang, hubtest.Findings(fs))
			}
		}
	}
	tab.WaitJS(10*time.Second, `(document.documentElement.lang === 'vi') || (document.getElementById('lang').click(), false)`)

	// A webhook channel whose URL is not http(s): the message is next to
	// the URL field, and nothing is stored.
	tab.WaitJS(10*time.Second, `(() => { const f = document.getElementById('chform'); f.kind.value = 'webhook'; f.kind.dispatchEvent(new Event('change')); return true; })()`)
	tab.Do(chromedp.SendKeys(`#chform [name=name]`, "Trực ban xã"), chromedp.SendKeys(`#chform [name="cfg.url"]`, "ftp://hook.test/x"),
		chromedp.SendKeys(`#chform [name="cfg.secret"]`, "mot-khoa-ky-du-dai-16"), chromedp.Click(`#chform button[type=submit]`))
	tab.WaitJS(10*time.Second, `document.querySelector('[name="cfg.url"]').closest('label').querySelector('.msg[data-for="config.url"]')?.textContent.includes('http(s)://')`)
	if _, err := tab.Layout(); err != nil { // drops the browser's log of that 400
		t.Fatal(err)
	}
	if n := count(t, h.svc.pool, `SELECT count(*) FROM alert_channels`); n != 0 {
		t.Fatalf("%d channels stored after a refused form", n)
	}
	tab.Settle(10*time.Second, 300*time.Millisecond)
	if fs, err := tab.Layout(); err != nil || len(fs) > 0 {
		t.Errorf("/alerts with a field's message: %v%s", err, hubtest.Findings(fs))
	}

	// The right URL: the channel is listed and the message is gone.
	tab.WaitJS(10*time.Second, fmt.Sprintf(`(document.querySelector('[name="cfg.url"]').value = %q, true)`, hook.URL+"/hook"))
	tab.Do(chromedp.Click(`#chform button[type=submit]`))
	tab.WaitJS(10*time.Second, `[...document.querySelectorAll('#channels tbody tr')].some((r) => r.textContent.includes('Trực ban xã')) && !document.querySelector('#chform .msg')`)

	// Send a test message: one call to the webhook, shown as sent.
	tab.Do(chromedp.Click(`#channels tbody tr button.test`))
	tab.WaitJS(10*time.Second, `document.getElementById('testdlg').open`)
	tab.Do(chromedp.Click(`#testform button[value=send]`))
	tab.WaitJS(30*time.Second, `[...document.querySelectorAll('#sends tbody tr')].some((r) => r.querySelector('.state-sent') && r.textContent.includes('Tin nhắn thử'))`)
	reqs := hook.requests()
	if len(reqs) != 1 || reqs[0].Path != "/hook" || !strings.Contains(string(reqs[0].Body), "Tin nhắn thử") {
		t.Fatalf("webhook calls: %+v", reqs)
	}
	tab.Settle(10*time.Second, 300*time.Millisecond)
	if fs, err := tab.Layout(); err != nil || len(fs) > 0 {
		t.Errorf("/alerts with a sent test message: %v%s", err, hubtest.Findings(fs))
	}
	if n := len(hook.requests()); n != 1 {
		t.Errorf("%d webhook calls after the page settled, want 1", n)
	}
}
