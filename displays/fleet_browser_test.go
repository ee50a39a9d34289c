package displays

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/communehub/communehub/hub"
)

// An offline screen is said to be offline since its last contact, not
// "behind" by the events it missed.
func TestBrowserFleetShowsOfflineSince(t *testing.T) {
	pool := newDB(t)
	h := startHub(t, pool, hubConfig{})
	d, _ := h.createDisplay("Sảnh tầng 1", "03244", LayoutCommune, Internal)
	seen := time.Date(2026, 6, 30, 9, 30, 0, 0, vietnam)
	if _, err := pool.Exec(context.Background(), `INSERT INTO display_status (display_id, online, last_seen, rendered_seq, rendered_layout, rendered_at)
		VALUES ($1, false, $2, 0, 'commune', $2)`, d.ID, seen); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		h.publish(kpi, kpiPayload("03244", i, 0, 0))
	}
	var info DisplayInfo
	h.do("GET", "/api/v1/displays/"+itoa(d.ID), nil, &info)
	if info.Status.BehindBy == nil || *info.Status.BehindBy == 0 {
		t.Fatalf("the fixture's screen is not behind: %+v", info.Status)
	}
	auth := hub.NewAuth(pool, hub.AuthConfig{}, nil)
	if _, err := auth.CreateUser(context.Background(), "quantri", hub.RoleAdmin, "mat-khau-dai-1"); err != nil {
		t.Fatal(err)
	}
	admin := browser(t, 1600, 900)
	if err := chromedp.Do(admin, chromedp.Navigate("http://"+h.addr+"/displays")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, admin, 10*time.Second, `location.pathname === '/login'`, "the login page")
	if err := chromedp.Do(admin,
		chromedp.SendKeys(chromedp.ID("username"), "quantri"),
		chromedp.SendKeys(chromedp.ID("password"), "mat-khau-dai-1"),
		chromedp.Click(chromedp.ID("submit")),
	); err != nil {
		t.Fatal(err)
	}
	row := `[...document.querySelectorAll('#rows tr')].find((r) => r.textContent.includes('Sảnh tầng 1'))`
	waitJS(t, admin, 10*time.Second, `location.pathname === '/displays' && `+row, "the screen on the fleet page")
	if got := evalJS[string](t, admin, row+`.children[6].textContent`); got != "Ngoại tuyến từ 09:30 30/06" {
		t.Errorf("the offline screen's lag column: %q", got)
	}
	if evalJS[bool](t, admin, row+`.querySelector('.behind') !== null`) {
		t.Errorf("the offline screen is marked behind")
	}
}
