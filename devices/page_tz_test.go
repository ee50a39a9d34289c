package devices

import (
	"fmt"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // America/New_York without the system's zone files

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// The technician page shows times in Vietnam time with the zone written,
// like the walls, even in a browser set to another zone; the local/Vietnam
// switch shows the browser's zone instead, and is remembered.
func TestTechnicianPageVietnamTime(t *testing.T) {
	t.Parallel()
	chrome := hubtest.Chromium(t)
	a := newAPIHarness(t, Config{AllowAnonymous: true})
	a.addTechnician(t)
	base := "http://" + a.serve(t)

	c, err := mqttClient(t, a.broker, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range [][2]string{
		{"communehub/03244/sw-core/meta", `{"name":"Switch lõi","kind":"switch","ip":"192.168.1.2"}`},
		{"communehub/03244/sw-core/status", "online"},
		{"communehub/03244/sw-core/status", "offline"},
	} {
		if err := publish(t, c, m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	var since time.Time
	hubtest.WaitFor(t, 5*time.Second, func() bool {
		_, m := a.do(t, hub.RoleViewer, "GET", "/api/v1/incidents?unit=03244", "")
		list, _ := m["incidents"].([]any)
		if len(list) == 0 {
			return false
		}
		since, err = time.Parse(time.RFC3339Nano, list[0].(map[string]any)["since"].(string))
		return err == nil
	}, "the switch's incident")
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	vn, err := time.LoadLocation("Asia/Ho_Chi_Minh")
	if err != nil {
		t.Fatal(err)
	}
	vnHM, nyHM := since.In(vn).Format("15:04"), since.In(ny).Format("15:04")
	_, off := since.In(ny).Zone()
	nyZone := fmt.Sprintf("(GMT%+d)", off/3600)

	page := hubtest.NewPage(t, chrome, 90*time.Second)
	if _, err := chromedp.Call(page.Ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "America/New_York"}); err != nil {
		t.Fatal(err)
	}
	do, text := page.Do, page.Text
	do(chromedp.Navigate(base+"/devices?unit=03244"),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, "tech"),
		chromedp.SendKeys(`#password`, "kythuat-123"),
		chromedp.Click(`#submit`),
		chromedp.WaitVisible(`#incidents li small`))
	page.WaitJS(5*time.Second, `Intl.DateTimeFormat().resolvedOptions().timeZone === "America/New_York"`)
	got := text(`#incidents`)
	if !strings.Contains(got, vnHM+" ") || !strings.Contains(got, "(GMT+7)") || strings.Contains(got, nyHM) {
		t.Errorf("incident time in a New York browser = %q, want Vietnam time %s (GMT+7), not %s", got, vnHM, nyHM)
	}
	if tz := text(`#tz`); !strings.Contains(tz, "Giờ Việt Nam") {
		t.Errorf("zone switch = %q", tz)
	}
	// The switch: this computer's zone, kept across a reload.
	do(chromedp.Click(`#tz`))
	page.WaitJS(5*time.Second, fmt.Sprintf(`document.querySelector('#incidents').innerText.includes(%q)`, nyZone))
	do(chromedp.Reload(), chromedp.WaitVisible(`#incidents li small`))
	if got := text(`#incidents`); !strings.Contains(got, nyHM+" ") || !strings.Contains(got, nyZone) {
		t.Errorf("incident time in local mode after a reload = %q, want %s %s", got, nyHM, nyZone)
	}
}
