package hub_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// The login page in a real Chromium tells a wrong password from a locked
// account, counts the lock down with the submit button off, in Vietnamese
// by default and in English on demand.
func TestLoginPageShowsTheLock(t *testing.T) {
	t.Parallel()
	chrome := hubtest.Chromium(t)
	h := newTestHubWith(t, hub.AuthConfig{Throttle: hub.ThrottleConfig{AccountFree: 1, BaseDelay: time.Minute}})
	if _, err := h.auth.CreateUser(context.Background(), "lan", hub.RoleOfficer, "lan-correct-horse"); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.app.Listener(ln) }()
	t.Cleanup(func() { _ = h.app.Shutdown() })

	page := hubtest.NewPage(t, chrome, 90*time.Second)
	page.Do(chromedp.Navigate("http://"+ln.Addr().String()+"/login"),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, "lan"),
		chromedp.SendKeys(`#password`, "wrong password"),
		chromedp.Click(`#submit`))
	page.WaitJS(30*time.Second, `document.getElementById('msg').textContent.includes('Sai tên đăng nhập')`)
	page.WaitJS(10*time.Second, `!document.getElementById('submit').disabled`)
	page.Do(chromedp.Click(`#submit`))
	page.WaitJS(30*time.Second, `document.getElementById('msg').textContent.includes('tạm khóa')`)
	vi := page.Text(`#msg`)
	if !strings.Contains(vi, "giây") {
		t.Errorf("Vietnamese lock message without the wait: %q", vi)
	}
	page.WaitJS(5*time.Second, `document.getElementById('submit').disabled`)
	page.Do(chromedp.Click(`#lang`))
	page.WaitJS(5*time.Second, `document.getElementById('msg').textContent.includes('This account is locked')`)
	if en := page.Text(`#msg`); !strings.Contains(en, "Try again in") {
		t.Errorf("English lock message: %q", en)
	}
}
