package devices

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/communehub/communehub/hub/hubtest"
)

// workbenchLAN is a commune office: router → core switch → floor-2 switch
// with an AP, two cameras and a PC behind it, and a camera nobody
// registered (telemetry without meta). They report hourly, so none times
// out while the test runs.
var workbenchLAN = [][2]string{
	{"communehub/03244/router-1/meta", `{"name":"Router Internet","kind":"router","ip":"192.168.1.1","interval_s":3600}`},
	{"communehub/03244/sw-core/meta", `{"name":"Switch lõi","kind":"switch","ip":"192.168.1.2","parent":"router-1","interval_s":3600}`},
	{"communehub/03244/sw-2/meta", `{"name":"Switch tầng 2","kind":"switch","ip":"192.168.1.3","parent":"sw-core","interval_s":3600}`},
	{"communehub/03244/ap-1/meta", `{"name":"Wifi phòng họp","kind":"ap","parent":"sw-2","interval_s":3600}`},
	{"communehub/03244/cam-1/meta", `{"name":"Camera cổng","kind":"camera","parent":"sw-2","interval_s":3600}`},
	{"communehub/03244/cam-2/meta", `{"name":"Camera sân","kind":"camera","parent":"sw-2","interval_s":3600}`},
	{"communehub/03244/pc-1/meta", `{"name":"Máy tính một cửa","kind":"pc","parent":"sw-2","interval_s":3600}`},
	{"communehub/03244/router-1/status", "online"},
	{"communehub/03244/sw-core/status", "online"},
	{"communehub/03244/sw-2/status", "online"},
	{"communehub/03244/ap-1/status", "online"},
	{"communehub/03244/cam-1/status", "online"},
	{"communehub/03244/cam-2/status", "online"},
	{"communehub/03244/pc-1/status", "online"},
	{"communehub/03244/cam-x/telemetry", `{"metrics":{"latency_ms":2}}`},
}

// The workbench pages in a real Chromium, as a technician: each fits
// 1366×768 and 1920×1080 with no text cut and no console error; the
// network map turns a switch red live when its will arrives, with the four
// devices behind it greyed and counted; a rule with a clear threshold on
// the wrong side shows the hub's message next to that field; registering
// the unregistered camera with its own login shows snippets carrying the
// new username.
func TestWorkbenchPages(t *testing.T) {
	t.Parallel()
	chrome := hubtest.Chromium(t)
	a := newAPIHarness(t, Config{AllowAnonymous: true})
	a.addTechnician(t)
	base := "http://" + a.serve(t)

	c, err := mqttClient(t, a.broker, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range workbenchLAN {
		if err := publish(t, c, m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	hubtest.WaitFor(t, 5*time.Second, func() bool {
		v, ok := a.svc.st.get("03244", "pc-1")
		_, x := a.svc.st.get("03244", "cam-x")
		return ok && x && v.Status == StatusOnline
	}, "the LAN online")

	page := hubtest.NewPage(t, chrome, 3*time.Minute)
	page.Do(chromedp.Navigate(base + "/login"))
	page.WaitJS(10*time.Second, `fetch('/api/v1/login', {method: 'POST', headers: {'Content-Type': 'application/json'},
		body: JSON.stringify({username: 'tech', password: 'kythuat-123'})}).then((r) => r.ok)`)

	pages := []struct{ path, ready string }{
		{"/devices/topology?unit=03244", `document.querySelector('li[data-id="pc-1"] > .node.online') !== null && document.querySelector('#live:not(.off)') !== null`},
		{"/devices/rules?unit=03244", `document.querySelectorAll('#rules tr[data-rule]').length >= 5`},
		{"/devices/provision?unit=03244", `document.querySelector('#unreg tr[data-id="cam-x"]') !== null && document.querySelector('#creds tbody tr') !== null`},
	}
	for _, pg := range pages {
		for _, size := range [][2]int64{{1366, 768}, {1920, 1080}} {
			t.Run(fmt.Sprintf("%s-%d", strings.Split(pg.path, "?")[0][9:], size[0]), func(t *testing.T) {
				tab := page.For(t)
				tab.Do(chromedp.Navigate("about:blank"))
				if _, err := tab.Layout(); err != nil { // drops the last page's messages
					t.Fatal(err)
				}
				tab.Do(chromedp.EmulateViewport(size[0], size[1]), chromedp.Navigate(base+pg.path))
				tab.WaitJS(15*time.Second, pg.ready)
				tab.Settle(15*time.Second, 300*time.Millisecond)
				fs, err := tab.Layout()
				if err != nil {
					t.Fatal(err)
				}
				if len(fs) > 0 {
					t.Errorf("%s at %dx%d:%s", pg.path, size[0], size[1], hubtest.Findings(fs))
				}
			})
		}
	}

	t.Run("topology-live", func(t *testing.T) {
		tab := page.For(t)
		tab.Do(chromedp.Navigate(base + "/devices/topology?unit=03244"))
		tab.WaitJS(15*time.Second, pages[0].ready)
		tree := tab.Text(`#tree`)
		for _, want := range []string{"Router Internet", "Switch lõi", "Switch tầng 2", "Camera cổng", "cam-x"} {
			if !strings.Contains(tree, want) {
				t.Errorf("tree lacks %q:\n%s", want, tree)
			}
		}
		// The tree follows the parents: the PC is under the floor-2 switch, under the core switch.
		tab.WaitJS(5*time.Second, `document.querySelector('li[data-id="router-1"] li[data-id="sw-core"] li[data-id="sw-2"] li[data-id="pc-1"]') !== null`)
		// The switch fails: its will arrives, and so do those of the four
		// devices whose connections ran through it.
		for _, id := range []string{"sw-2", "ap-1", "cam-1", "cam-2", "pc-1"} {
			if err := publish(t, c, "communehub/03244/"+id+"/status", "offline"); err != nil {
				t.Fatal(err)
			}
		}
		tab.WaitJS(10*time.Second, `document.querySelector('li[data-id="sw-2"] > .node.offline') !== null &&
			['ap-1','cam-1','cam-2','pc-1'].every((id) => document.querySelector('li.cut[data-id="' + id + '"] > .node.unreachable') !== null)`)
		if got := tab.Text(`li[data-id="sw-2"] > .node .behind`); got != "4 thiết bị không truy cập được" {
			t.Errorf("under the down switch: %q", got)
		}
		tab.WaitJS(10*time.Second, `document.getElementById('problems').textContent.includes('Switch tầng 2 mất kết nối — 4 thiết bị không truy cập được')`)
		if n := tab.Text(`li[data-id="sw-core"] > .node .st`); n != "Hoạt động" {
			t.Errorf("the core switch above it: %q", n)
		}
		// And back: the colours follow the will's "online" too.
		for _, id := range []string{"sw-2", "ap-1", "cam-1", "cam-2", "pc-1"} {
			if err := publish(t, c, "communehub/03244/"+id+"/status", "online"); err != nil {
				t.Fatal(err)
			}
		}
		tab.WaitJS(10*time.Second, `document.querySelector('li[data-id="sw-2"] > .node.online') !== null && document.querySelector('li.cut') === null`)
	})

	t.Run("rules-invalid", func(t *testing.T) {
		tab := page.For(t)
		tab.Do(chromedp.Navigate(base+"/devices/rules?unit=03244"), chromedp.WaitVisible(`#rule-add`))
		tab.WaitJS(10*time.Second, pages[1].ready)
		// The forms open on demand only.
		tab.WaitJS(5*time.Second, `['rule-form', 'win-form'].every((id) => document.getElementById(id).offsetParent === null)`)
		tab.Do(chromedp.Click(`#rule-add`), chromedp.WaitVisible(`#rule-form`),
			chromedp.SendKeys(`#rule-form input[name=metric]`, "latency_ms"),
			chromedp.SendKeys(`#rule-form input[name=threshold]`, "100"),
			chromedp.SendKeys(`#rule-form input[name=clear_threshold]`, "120"),
			chromedp.SendKeys(`#rule-form input[name=unit]`, "03244"),
			chromedp.Click(`#rule-form button[type=submit]`))
		tab.WaitJS(10*time.Second, `document.querySelector('[data-field="clear_threshold"] .field-err').textContent !== ''`)
		if got := tab.Text(`[data-field="clear_threshold"] .field-err`); !strings.Contains(got, "phía bình thường của ngưỡng báo") {
			t.Errorf("clear_threshold message: %q", got)
		}
		if got := tab.Text(`[data-field="metric"] .field-err`); got != "" {
			t.Errorf("a message on another field: %q", got)
		}
		// Corrected, it is saved and listed; the message is gone.
		tab.Do(chromedp.SetValue(`#rule-form input[name=clear_threshold]`, "80"), chromedp.Click(`#rule-form button[type=submit]`))
		tab.WaitJS(10*time.Second, `document.getElementById('rule-form').offsetParent === null && [...document.querySelectorAll('#rules tr[data-rule]')].some((tr) => tr.textContent.includes('> 100 (hết khi < 80)'))`)
		// Edited with an unknown commune: the 422 names the unit field.
		tab.WaitJS(5*time.Second, `(() => { const rows = [...document.querySelectorAll('#rules tr[data-rule]')]; rows.find((tr) => tr.textContent.includes('< 80')).querySelector('[data-edit-rule]').click(); return true; })()`)
		tab.Do(chromedp.WaitVisible(`#rule-form`), chromedp.SetValue(`#rule-form input[name=unit]`, "99999"), chromedp.Click(`#rule-form button[type=submit]`))
		tab.WaitJS(10*time.Second, `document.querySelector('[data-field="unit"] .field-err').textContent.includes('99999')`)

		// A window ending before it starts: the message is next to "ends".
		tab.Do(chromedp.Click(`#win-add`), chromedp.WaitVisible(`#win-form`),
			chromedp.SetValue(`#win-form input[name=starts_at]`, "2030-01-01T10:00"),
			chromedp.SetValue(`#win-form input[name=ends_at]`, "2030-01-01T09:00"),
			chromedp.Click(`#win-form button[type=submit]`))
		tab.WaitJS(10*time.Second, `document.querySelector('[data-field="ends_at"] .field-err').textContent === 'Phải sau thời điểm bắt đầu'`)
		tab.Do(chromedp.SetValue(`#win-form input[name=ends_at]`, "2030-01-01T12:00"), chromedp.SendKeys(`#win-form input[name=reason]`, "thay switch"),
			chromedp.Click(`#win-form button[type=submit]`))
		tab.WaitJS(10*time.Second, `document.querySelector('#windows tr[data-win]')?.textContent.includes('10:00 01/01/2030 (GMT+7)')`)
	})

	t.Run("provision", func(t *testing.T) {
		tab := page.For(t)
		tab.Do(chromedp.Navigate(base + "/devices/provision?unit=03244"))
		tab.WaitJS(10*time.Second, pages[2].ready)
		tab.WaitJS(5*time.Second, `['adopt-form', 'result'].every((id) => document.getElementById(id).offsetParent === null)`)
		tab.Do(chromedp.Click(`button[data-adopt="cam-x"]`), chromedp.WaitVisible(`#adopt-form`),
			chromedp.SetValue(`#adopt-form input[name=devname]`, "Camera kho"),
			chromedp.SetValue(`#adopt-form select[name=kind]`, "camera"),
			chromedp.SetValue(`#adopt-form select[name=parent]`, "sw-2"),
			chromedp.Click(`#adopt-form input[name=cred]`),
			chromedp.Click(`#adopt-form button[type=submit]`),
			chromedp.WaitVisible(`#result`))
		user := tab.Text(`#res-user`)
		if !strings.HasPrefix(user, "03244.cam-x.") {
			t.Fatalf("username %q", user)
		}
		for _, id := range []string{"#sn-pw", "#sn-acl", "#sn-telegraf", "#sn-pub"} {
			if got := tab.Text(id); !strings.Contains(got, user) {
				t.Errorf("%s lacks the new username %s:\n%s", id, user, got)
			}
		}
		if got := tab.Text(`#sn-telegraf`); !strings.Contains(got, "communehub/03244/cam-x/telemetry") || !strings.Contains(got, tab.Text(`#res-pass`)) {
			t.Errorf("Telegraf snippet:\n%s", got)
		}
		v, _ := a.svc.st.get("03244", "cam-x")
		if v.Registration != RegRegistered || v.Parent != "sw-2" || v.Kind != "camera" || v.Name != "Camera kho" {
			t.Errorf("cam-x after registering: %+v", v)
		}
		tab.WaitJS(5*time.Second, `document.querySelector('#unreg tr[data-id="cam-x"]') === null && document.getElementById('creds').textContent.includes('`+user+`')`)
		// A bad device id for a new login: the message sits by the field.
		tab.Do(chromedp.SendKeys(`#cred-form input[name=device]`, "a/b"), chromedp.Click(`#cred-form button[type=submit]`))
		tab.WaitJS(10*time.Second, `document.querySelector('#cred-form [data-field="device"] .field-err').textContent.includes('1–64')`)
	})
}
