package devices

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// The technician page in a real Chromium: live status over the websocket,
// an alarm acknowledged with a comment, Vietnamese by default and English
// on demand.
func TestTechnicianPage(t *testing.T) {
	t.Parallel()
	chrome := hubtest.Chromium(t)
	a := newAPIHarness(t, Config{AllowAnonymous: true})
	a.addTechnician(t)
	if code, body := a.do(t, hub.RoleAdmin, "POST", "/api/v1/alarm-rules",
		`{"unit":"03244","metric":"loss_pct","op":">","threshold":20,"clear_threshold":5,"for_s":0,"severity":"major"}`); code != 201 {
		t.Fatalf("rule %d %v", code, body)
	}
	base := "http://" + a.serve(t)

	c, err := mqttClient(t, a.broker, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range [][2]string{
		{"communehub/03244/router-1/meta", `{"name":"Router Internet","kind":"router","ip":"192.168.1.1"}`},
		{"communehub/03244/sw-core/meta", `{"name":"Switch lõi","kind":"switch","ip":"192.168.1.2","parent":"router-1"}`},
		{"communehub/03244/router-1/status", "online"},
		{"communehub/03244/sw-core/status", "online"},
		{"communehub/03244/router-1/telemetry", `{"metrics":{"latency_ms":31.5,"loss_pct":40}}`},
		{"communehub/03244/sw-core/telemetry", `{"metrics":{"latency_ms":0.8,"loss_pct":0}}`},
		{"communehub/03244/cam-x/telemetry", `{"metrics":{"latency_ms":2}}`},
	} {
		if err := publish(t, c, m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}

	page := hubtest.NewPage(t, chrome, 90*time.Second)
	bctx, do, text := page.Ctx, page.Do, page.Text
	do(chromedp.Navigate(base+"/devices?unit=03244"),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, "tech"),
		chromedp.SendKeys(`#password`, "kythuat-123"),
		chromedp.Click(`#submit`),
		chromedp.WaitVisible(`tr[data-id="sw-core"] .st.online`),
		chromedp.WaitVisible(`button[data-ack]`))
	table := text(`#devices`)
	for _, want := range []string{"Router Internet", "Hoạt động", "Chưa đăng ký", "cam-x", "192.168.1.2"} {
		if !strings.Contains(table, want) {
			t.Errorf("device table lacks %q:\n%s", want, table)
		}
	}
	// Live: the switch's will arrives while the page is open.
	if err := publish(t, c, "communehub/03244/sw-core/status", "offline"); err != nil {
		t.Fatal(err)
	}
	do(chromedp.WaitVisible(`tr[data-id="sw-core"] .st.offline`))
	incidents := text(`#incidents`)
	// The alarm list is drawn again on every live update, so the button is
	// clicked in the page (by whichever node is there) until the dialog opens.
	if err := hubtest.WaitJS(bctx, 10*time.Second, `(() => {
		const d = document.querySelector('#ack-comment');
		if (d && d.offsetParent !== null) return true;
		document.querySelector('button[data-ack]')?.click();
		return false;
	})()`); err != nil {
		t.Fatalf("the acknowledge dialog: %v", err)
	}
	do(chromedp.SendKeys(`#ack-comment`, "đã gọi nhà mạng"),
		chromedp.Click(`#ack-ok`),
		chromedp.WaitNotPresent(`button[data-ack]`))
	// The event (the button goes) and the alarm list (who acknowledged) arrive separately.
	alarmsText := text(`#alarms`)
	for deadline := time.Now().Add(hubtest.Timeout(10 * time.Second)); !strings.Contains(alarmsText, "đã xác nhận") && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond) // sleep: the polling interval
		alarmsText = text(`#alarms`)
	}
	if !strings.Contains(incidents, "Switch lõi mất kết nối") {
		t.Errorf("incidents: %q", incidents)
	}
	if !strings.Contains(alarmsText, "đã xác nhận: tech — đã gọi nhà mạng") {
		t.Errorf("alarms after ack: %q", alarmsText)
	}
	do(chromedp.Click(`tr[data-id="router-1"]`), chromedp.WaitVisible(`#chart polyline`))
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	do(chromedp.Click(`#lang`), chromedp.WaitVisible(`tr[data-id="router-1"]`))
	english := text(`body`)
	if dir := os.Getenv("COMMUNEHUB_SCREENSHOTS"); dir != "" {
		_ = os.WriteFile(dir+"/devices-page.png", shot, 0o644)
	}
	for _, want := range []string{"Network devices", "Unregistered", "acknowledged by tech", "Switch lõi down"} {
		if !strings.Contains(english, want) {
			t.Errorf("English page lacks %q", want)
		}
	}
}
