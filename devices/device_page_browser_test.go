package devices

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// The device page in a real Chromium at 1366×768 and 1920×1080: the chart
// draws (a canvas, points from the server), the range buttons switch it
// (30 days from the rollups), the history, alarms, incidents and the
// children show, nothing overflows or is cut and the console stays clean;
// the edit form puts each error under its field (the browser's own check,
// and the server's answer naming the field) and saves a good edit.
// COMMUNEHUB_SCREENSHOTS=1 saves docs/screenshots/device-{width}.png (30 days shown).
func TestDevicePage(t *testing.T) {
	t.Parallel()
	chrome := hubtest.Chromium(t)
	a := newAPIHarness(t, Config{AllowAnonymous: true})
	a.addTechnician(t)
	if code, body := a.do(t, hub.RoleAdmin, "POST", "/api/v1/alarm-rules",
		`{"unit":"03244","device":"sw-core","metric":"loss_pct","op":">","threshold":20,"clear_threshold":5,"for_s":0,"severity":"major"}`); code != 201 {
		t.Fatalf("rule %d %v", code, body)
	}
	c, err := mqttClient(t, a.broker, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range [][2]string{
		{"communehub/03244/router-1/meta", `{"name":"Router Internet","kind":"router","ip":"192.168.1.1"}`},
		{"communehub/03244/sw-core/meta", `{"name":"Switch lõi","kind":"switch","ip":"192.168.1.2","parent":"router-1"}`},
		{"communehub/03244/cam-gate/meta", `{"name":"Camera cổng","kind":"camera","ip":"192.168.1.21","parent":"sw-core"}`},
		{"communehub/03244/ap-1/meta", `{"name":"Wi-Fi một cửa","kind":"ap","ip":"192.168.1.11","parent":"sw-core"}`},
		{"communehub/03244/router-1/status", "online"}, {"communehub/03244/cam-gate/status", "online"},
		{"communehub/03244/ap-1/status", "online"},
		{"communehub/03244/sw-core/status", "online"}, {"communehub/03244/sw-core/status", "offline"},
		{"communehub/03244/sw-core/status", "online"},
		{"communehub/03244/sw-core/telemetry", `{"metrics":{"latency_ms":12,"loss_pct":40}}`},
	} {
		if err := publish(t, c, m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	if code, body := a.do(t, hub.RoleTechnician, "POST", "/api/v1/maintenance", fmt.Sprintf(
		`{"unit":"03244","device":"sw-core","starts_at":%q,"ends_at":%q,"reason":"Thay nguồn switch"}`,
		time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339), time.Now().Add(50*time.Hour).UTC().Format(time.RFC3339))); code != 201 {
		t.Fatalf("window %d %v", code, body)
	}
	seedChartData(t, a.pool, "03244", "sw-core", 30, time.Minute, time.Now())
	hubtest.WaitFor(t, 5*time.Second, func() bool {
		_, body := a.do(t, hub.RoleViewer, "GET", "/api/v1/devices/03244/sw-core/history", "")
		st, _ := body["status"].([]any)
		al, _ := body["alarms"].([]any)
		return len(st) >= 3 && len(al) == 1
	}, "sw-core's history and alarm stored")

	base := "http://" + a.serve(t)

	page := hubtest.NewPage(t, chrome, 3*time.Minute)
	page.Do(chromedp.Navigate(base+"/devices/03244/sw-core"), chromedp.WaitVisible(`#username`))
	page.WaitJS(10*time.Second, `fetch('/api/v1/login', {method: 'POST', headers: {'Content-Type': 'application/json'},
		body: JSON.stringify({username: 'tech', password: 'kythuat-123'})}).then((r) => r.ok)`)
	drawn := func(rng string) string {
		return fmt.Sprintf(`(() => { const c = document.getElementById('chart');
			return !!c.querySelector('canvas') && c.dataset.range === %q && +c.dataset.points > 0; })()`, rng)
	}
	shots := os.Getenv("COMMUNEHUB_SCREENSHOTS")
	if shots == "1" {
		shots = filepath.Join("..", "docs", "screenshots")
	}
	for _, size := range [][2]int64{{1366, 768}, {1920, 1080}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			tab := page.For(t)
			tab.Do(chromedp.Navigate("about:blank"))
			if _, err := tab.Layout(); err != nil { // drops the last page's messages
				t.Fatal(err)
			}
			tab.Do(chromedp.EmulateViewport(size[0], size[1]), chromedp.Navigate(base+"/devices/03244/sw-core"))
			tab.Do(chromedp.Click(`button[data-range="24h"]`))
			tab.WaitJS(15*time.Second, drawn("24h"))
			tab.Do(chromedp.Click(`button[data-range="30d"]`))
			tab.WaitJS(15*time.Second, drawn("30d"))
			tab.Settle(15*time.Second, 500*time.Millisecond)
			if fs, err := tab.Layout(); err != nil || len(fs) > 0 {
				t.Errorf("layout at %dx%d: %v%s", size[0], size[1], err, hubtest.Findings(fs))
			}
			body := tab.Text(`main`)
			for _, want := range []string{"Switch lõi", "Lịch sử trạng thái", "thiết bị báo ngừng", "Router Internet",
				"cam-gate", "ap-1", "loss_pct", "Thay nguồn switch", "bảng tổng hợp theo giờ"} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q:\n%s", want, body)
				}
			}
			if shots != "" {
				img, err := chromedp.Run(tab.Ctx, chromedp.CaptureScreenshot())
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(shots, fmt.Sprintf("device-%d.png", size[0])), img, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}

	// 1 hour from the raw rows.
	page.Do(chromedp.Click(`button[data-range="1h"]`))
	page.WaitJS(10*time.Second, drawn("1h"))
	// The browser's own check: nothing is sent.
	page.Do(chromedp.SetValue(`#m-ip`, "192.168.1.300"), chromedp.Click(`#m-save`))
	page.WaitJS(5*time.Second, `document.getElementById('err-ip').textContent.includes('IPv4')`)
	// The server's: cam-gate is below sw-core, so the parents would loop.
	page.Do(chromedp.SetValue(`#m-ip`, "192.168.1.2"), chromedp.SetValue(`#m-parent`, "cam-gate"), chromedp.Click(`#m-save`))
	page.WaitJS(5*time.Second, `document.getElementById('err-parent').textContent.includes('loop')
		&& document.getElementById('err-ip').textContent === ''`)
	// The browser logs that refusal as a failed request, and only that.
	fs, err := page.Layout()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Kind != "console" || !strings.Contains(f.Text, "422") {
			t.Errorf("after the refused edit: %s", f)
		}
	}
	page.Do(chromedp.SetValue(`#m-parent`, "router-1"), chromedp.SetValue(`#m-name`, "Switch lõi tầng 1"), chromedp.Click(`#m-save`))
	page.WaitJS(5*time.Second, `document.getElementById('m-msg').textContent === 'Đã lưu.'
		&& document.getElementById('title').textContent.startsWith('Switch lõi tầng 1')`)
	if v, _ := a.svc.st.get("03244", "sw-core"); v.Name != "Switch lõi tầng 1" || v.Parent != "router-1" {
		t.Errorf("after the edit: %+v", v)
	}
	page.Do(chromedp.Click(`#lang`))
	page.WaitJS(5*time.Second, `document.body.innerText.includes('Status history') && document.body.innerText.includes('from raw data')`)
	if fs, err = page.Layout(); err != nil || len(fs) > 0 {
		t.Errorf("after the edit and the language switch: %v%s", err, hubtest.Findings(fs))
	}
}
