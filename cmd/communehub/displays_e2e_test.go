package main

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// TestWallFollowsADossierChange runs the whole hub and a wall in Chromium:
// a dossier received through PUT /api/v1/dossiers/{code} (backlog)
// changes the commune wall's "open" count within a second — the product
// path: REST, the backlog's transaction and its outbox event, the
// follower, the displays fan-out, the page.
func TestWallFollowsADossierChange(t *testing.T) {
	chromium := hubtest.Chromium(t)
	_, dbURL := hubtest.NewDB(t)
	p := startHub(t, dbURL, nil)
	base := "http://" + p.Addr

	token := apiToken(t, dbURL, "e2e", hub.RoleAdmin)
	call := func(method, path string, body any) map[string]any {
		t.Helper()
		var out map[string]any
		apiCall(t, base, token, method, path, body, 0, &out)
		return out
	}
	call("PUT", "/api/v1/procedures/1.001193", map[string]any{"name": "Đăng ký khai sinh", "online_level": "full", "has_fee": false,
		"requires_paper_result": true, "deadline": map[string]any{"value": 3, "unit": "working_day"}})
	now := time.Now().In(time.FixedZone("ICT", 7*3600))
	dossier := func(code string) {
		call("PUT", "/api/v1/dossiers/"+code, map[string]any{"MaTTHC": "1.001193", "MaDVHC": "03244", "TrangThaiHoSo": 2,
			"NgayTiepNhan": now.Add(-time.Hour).Format("20060102150405")})
	}
	dossier("E2E-1")
	created := call("POST", "/api/v1/displays", map[string]any{"name": "Phòng một cửa", "scope": "03244", "layout": "commune", "classification": "public"})

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), hubtest.ChromeAllocatorOptions(t, chromium)...)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(alloc)
	defer cancelTab()
	if err := chromedp.Do(tab, chromedp.EmulateViewport(1920, 1080), chromedp.Navigate(base+created["url"].(string))); err != nil {
		t.Fatal(err)
	}
	open := `document.querySelector('.dossiers .stats.big .value')?.textContent`
	wait := func(timeout time.Duration, expr, what string) {
		t.Helper()
		if _, err := chromedp.Run(tab, chromedp.Poll[bool]("!!("+expr+")", chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(10*time.Millisecond))); err != nil {
			text, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.body.innerText.slice(0, 400)`))
			t.Fatalf("waiting %v for %s: %v\n%s", timeout, what, err, text)
		}
	}
	wait(15*time.Second, open+` === '1' && document.querySelector('.conn').dataset.state === 'live'`, "the wall with one open dossier")

	start := time.Now()
	dossier("E2E-2")
	wait(time.Second, open+` === '2'`, "the second dossier on the wall within 1 s")
	t.Logf("PUT /api/v1/dossiers → wall in %v", time.Since(start))
}
