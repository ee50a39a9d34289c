package hub_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// servedHub serves h on a free local port and returns its base URL.
func servedHub(t *testing.T, h *testHub) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.app.Listener(ln) }()
	t.Cleanup(func() { _ = h.app.Shutdown() })
	return "http://" + ln.Addr().String()
}

// browserLogin logs the tab in through the API, from the login page.
func browserLogin(tab *hubtest.Page, base, user, password string) {
	tab.Do(chromedp.Navigate(base + "/login"))
	tab.WaitJS(30*time.Second, fmt.Sprintf(`fetch('/api/v1/login', {method: 'POST', headers: {'Content-Type': 'application/json'},
		body: JSON.stringify({username: %q, password: %q})}).then((r) => r.ok)`, user, password))
}

// The users page in a real Chromium fits 1366×768 and 1920×1080 with no
// overflow, clipped text or console error, in Vietnamese and in English;
// an admin adds a user through the form and sees the one-time password,
// which logs that user in; a refused field gets its own message; the
// audit log shows the addition.
func TestUsersPage(t *testing.T) {
	t.Parallel()
	chrome := hubtest.Chromium(t)
	h := newTestHub(t)
	ctx := context.Background()
	if _, err := h.auth.CreateUser(ctx, "quantri", hub.RoleAdmin, "quan-tri-mat-khau"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.auth.AddUser(ctx, hub.CLIActor, hub.NewUser{Username: "lo.thi.thuy", DisplayName: "Lò Thị Thủy",
		Role: hub.RoleTechnician, Scope: "03244"}); err != nil {
		t.Fatal(err)
	}
	base := servedHub(t, h)
	tab := hubtest.NewPage(t, chrome, 3*time.Minute)
	browserLogin(tab, base, "quantri", "quan-tri-mat-khau")

	tab.Do(chromedp.Navigate(base + "/users"))
	tab.WaitJS(20*time.Second, `document.querySelectorAll('#users tbody tr').length === 2 && document.querySelectorAll('#audit tbody tr[data-action]').length >= 2`)
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
				t.Errorf("/users at %dx%d (%s):%s", size[0], size[1], lang, hubtest.Findings(fs))
			}
		}
	}
	tab.WaitJS(10*time.Second, `(document.documentElement.lang === 'vi') || (document.getElementById('lang').click(), false)`)
	if title := tab.Text(`#form-title`); title != "Thêm người dùng" {
		t.Errorf("form title in Vietnamese: %q", title)
	}

	// A taken username: the message sits under the username field.
	tab.Do(chromedp.SendKeys(`#username`, "lo.thi.thuy"), chromedp.Click(`#save`))
	tab.WaitJS(10*time.Second, `document.querySelector('.msg[data-for="username"]').textContent.includes('Đã có người dùng')`)
	if _, err := tab.Layout(); err != nil { // drops the browser's log of that 409
		t.Fatal(err)
	}

	// Add through the form; the one-time password is shown.
	tab.WaitJS(10*time.Second, `(document.getElementById('username').value = '', document.getElementById('role').value = 'officer', true)`)
	tab.Do(chromedp.SendKeys(`#username`, "giang.a.chu"), chromedp.SendKeys(`#display_name`, "Giàng A Chu"),
		chromedp.SendKeys(`#scope`, "03244"), chromedp.Click(`#save`))
	tab.WaitJS(20*time.Second, `!document.getElementById('secret').hidden && /^[a-z2-9]{4}(-[a-z2-9]{4}){3}$/.test(document.getElementById('secret-value').textContent)`)
	password := tab.Text(`#secret-value`)
	if title := tab.Text(`#secret-title`); !strings.Contains(title, "giang.a.chu") {
		t.Errorf("secret title %q", title)
	}
	tab.WaitJS(10*time.Second, `document.querySelectorAll('#users tbody tr').length === 3 &&
		document.querySelector('#audit tbody tr[data-action]').dataset.action === 'user.add'`)
	if row := tab.Text(`#audit tbody tr`); !strings.Contains(row, "quantri") || !strings.Contains(row, "giang.a.chu") || strings.Contains(row, password) {
		t.Errorf("newest audit row: %q", row)
	}
	tab.Settle(10*time.Second, 300*time.Millisecond)
	if fs, err := tab.Layout(); err != nil || len(fs) > 0 {
		t.Errorf("/users with the one-time password shown: %v%s", err, hubtest.Findings(fs))
	}
	if r := login(t, h, "giang.a.chu", password); r.status != 200 || r.body["role"] != "officer" {
		t.Errorf("login with the shown password: %d %v", r.status, r.body)
	}
	tab.Do(chromedp.Click(`#secret-done`))
	tab.WaitJS(10*time.Second, `document.getElementById('secret').hidden && !document.body.textContent.includes(`+fmt.Sprintf("%q", password)+`)`)

	// The last admin cannot disable themselves: the message is under the box.
	tab.WaitJS(10*time.Second, `[...document.querySelectorAll('#users tbody tr')].find((r) => r.textContent.includes('quantri')).querySelector('button.edit').click() || true`)
	tab.Do(chromedp.Click(`#disabled`), chromedp.Click(`#save`))
	tab.WaitJS(10*time.Second, `document.querySelector('.msg[data-for="disabled"]').textContent.includes('quản trị viên cuối cùng')`)
}

// The account page lets any logged-in user change their password, with
// the wrong current password named under its field; it fits both screens.
func TestAccountPage(t *testing.T) {
	t.Parallel()
	chrome := hubtest.Chromium(t)
	h := newTestHub(t)
	if _, err := h.auth.CreateUser(context.Background(), "xem", hub.RoleViewer, "mat-khau-cu-dai"); err != nil {
		t.Fatal(err)
	}
	base := servedHub(t, h)
	tab := hubtest.NewPage(t, chrome, 2*time.Minute)
	browserLogin(tab, base, "xem", "mat-khau-cu-dai")
	tab.Do(chromedp.Navigate(base + "/users")) // not an admin: sent to /account
	tab.WaitJS(20*time.Second, `location.pathname === '/account' && document.getElementById('who').textContent.includes('xem')`)
	if _, err := tab.Layout(); err != nil {
		t.Fatal(err)
	}
	for _, size := range [][2]int64{{1366, 768}, {1920, 1080}} {
		tab.Do(chromedp.EmulateViewport(size[0], size[1]))
		tab.Settle(10*time.Second, 300*time.Millisecond)
		if fs, err := tab.Layout(); err != nil || len(fs) > 0 {
			t.Errorf("/account at %dx%d: %v%s", size[0], size[1], err, hubtest.Findings(fs))
		}
	}
	tab.Do(chromedp.SendKeys(`#current`, "not-the-password"), chromedp.SendKeys(`#new`, "mat-khau-moi-dai"),
		chromedp.SendKeys(`#again`, "mat-khau-moi-dai"), chromedp.Click(`#save`))
	tab.WaitJS(20*time.Second, `document.querySelector('.msg[data-for="current"]').textContent.includes('không đúng')`)
	tab.WaitJS(10*time.Second, `(document.getElementById('current').value = '', true)`)
	tab.Do(chromedp.SendKeys(`#current`, "mat-khau-cu-dai"), chromedp.Click(`#save`))
	tab.WaitJS(20*time.Second, `document.querySelector('.msg[data-for=""]').textContent.includes('Đã đổi mật khẩu')`)
	if r := login(t, h, "xem", "mat-khau-moi-dai"); r.status != 200 {
		t.Errorf("login with the new password: %d", r.status)
	}
}
