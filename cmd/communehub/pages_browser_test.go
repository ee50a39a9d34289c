package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// pageSizes are the screens every page must fit: a common office laptop
// and a full-HD monitor or TV.
var pageSizes = [][2]int64{{1366, 768}, {1920, 1080}}

// shownPage is one page of the hub as someone opens it.
type shownPage struct {
	name  string // the screenshot's name
	path  string
	ready string // JS true once the page shows its data; "" to wait for the DOM to settle only
	wall  bool   // a wall display: it must not scroll down either, nobody scrolls a TV
}

// TestEveryPageFitsTheScreen runs the demo hub and opens each of its HTML
// pages — as nobody (login, walls, an invite link), the demo admin and the
// demo meeting's chair — at 1366×768 and 1920×1080, and fails on what
// hubtest's Page.Layout finds: the page scrolling sideways, text cut by its
// box, console errors. With COMMUNEHUB_SCREENSHOTS=1 it saves each page at
// each size to docs/screenshots/{page}-{width}.png (another value: that
// directory).
func TestEveryPageFitsTheScreen(t *testing.T) {
	chromium := hubtest.Chromium(t)
	_, dbURL := hubtest.NewDB(t)
	p := startHub(t, dbURL, map[string]string{"COMMUNEHUB_MQTT_LISTEN": ""}, "--demo")
	adminPass := stdoutMatch(t, p, `user: admin\s+password: (\S+)`)
	meeting := stdoutMatch(t, p, `Demo meeting (\d+) of commune`)
	chairPass := stdoutMatch(t, p, `Demo meeting \d+ of commune .*password: (\S+)`)
	walls := regexp.MustCompile(`(?m)^\s+Demo — (.+?)\s+https?://[^/]+(/display#token=\S+)$`).FindAllStringSubmatch(p.Stdout.String(), -1)
	if len(walls) < 2 {
		t.Fatalf("want the demo's commune and province walls in its output:\n%s", p.Stdout)
	}

	token := apiToken(t, dbURL, "pages", hub.RoleAdmin)
	var meetingWall map[string]any
	apiCall(t, p.Base, token, "POST", "/api/v1/displays", map[string]any{"name": "Phòng họp", "scope": demoCommune, "layout": "meeting", "classification": "public"}, 0, &meetingWall)
	var invite struct {
		InviteURL string `json:"invite_url"`
	}
	apiCall(t, p.Base, token, "POST", "/api/v1/meetings/"+meeting+"/invitees", map[string]any{"name": "Lường Văn Khách", "role": "guest"}, 201, &invite)

	live := `document.querySelector('.conn')?.dataset.state === 'live'`
	anonymous := []shownPage{
		{"login", "/login", "", false},
		// Before the walls: a wall keeps its token in the browser and
		// opens /display again as itself.
		{"wall-pairing", "/display", `/^[A-Z2-9]{6}$/.test(document.getElementById('pair-code')?.textContent || '')`, true},
		{"wall-commune", walls[0][2], live, true},
		{"wall-province", walls[1][2], live, true},
		{"wall-meeting", meetingWall["url"].(string), live, true},
		{"meeting-invite", invite.InviteURL, "", false},
	}
	admin := []shownPage{
		{"backlog", "/backlog", "", false},
		{"devices", "/devices", "", false},
		{"topology", "/devices/topology?unit=" + demoCommune, `document.querySelector('#tree li[data-id]') !== null`, false},
		{"rules", "/devices/rules?unit=" + demoCommune, `document.querySelector('#rules tr[data-rule]') !== null`, false},
		{"provision", "/devices/provision?unit=" + demoCommune, `document.querySelector('#creds tbody tr') !== null`, false},
		{"device", "/devices/" + demoCommune + "/sw-core", `+document.getElementById('chart')?.dataset.points > 0`, false},
		{"displays", "/displays", "", false},
		{"displays-pair", "/displays/pair", "", false},
		{"meetings", "/meetings", "", false},
		{"alerts", "/alerts", "", false},
		{"users", "/users", `document.querySelectorAll('#users tbody tr').length > 0 && document.querySelectorAll('#audit tbody tr[data-action]').length > 0`, false},
		{"account", "/account", `document.getElementById('who').textContent !== ''`, false},
	}
	chair := []shownPage{
		{"meetings-chair", "/meetings", "", false},
		{"meeting-lobby", "/meetings/" + meeting, "", false},
		{"meeting-paperless", "/meetings/" + meeting + "/paperless", "", false},
	}

	shots := screenshotDir(t)
	failed := 0
	check := func(who, user, password string, pages []shownPage) {
		t.Run(who, func(t *testing.T) {
			tab := hubtest.NewPage(t, chromium, 5*time.Minute)
			if user != "" {
				tab.Do(chromedp.Navigate(p.Base + "/login"))
				tab.WaitJS(10*time.Second, fmt.Sprintf(`fetch('/api/v1/login', {method: 'POST', headers: {'Content-Type': 'application/json'},
					body: JSON.stringify({username: %q, password: %q})}).then((r) => r.ok)`, user, password))
			}
			for _, pg := range pages {
				for _, size := range pageSizes {
					name := fmt.Sprintf("%s-%d", pg.name, size[0])
					t.Run(name, func(t *testing.T) {
						tab := tab.For(t)
						// Each page in a fresh document: a wall's #token
						// is read at load, not on a hash change.
						tab.Do(chromedp.Navigate("about:blank"))
						if _, err := tab.Layout(); err != nil { // drops the last page's messages
							t.Fatal(err)
						}
						tab.Do(chromedp.EmulateViewport(size[0], size[1]), chromedp.Navigate(p.Base+pg.path))
						if pg.ready != "" {
							tab.WaitJS(20*time.Second, pg.ready)
						}
						tab.Settle(20*time.Second, 500*time.Millisecond)
						fs, err := tab.Layout()
						if err != nil {
							t.Fatal(err)
						}
						if pg.wall {
							tall, err := chromedp.Run(tab.Ctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollHeight, document.documentElement.clientHeight]`))
							if err != nil {
								t.Fatal(err)
							}
							if tall[0] > tall[1] {
								fs = append(fs, hubtest.Finding{Kind: "overflow", Selector: "html",
									Detail: fmt.Sprintf("wall is %dpx tall on a %dpx screen", tall[0], tall[1])})
							}
						}
						if len(fs) > 0 {
							failed++
							t.Errorf("%s at %dx%d (%s):%s", pg.path, size[0], size[1], who, hubtest.Findings(fs))
						}
						if shots != "" {
							saveScreenshot(t, tab, filepath.Join(shots, name))
						}
					})
				}
			}
		})
	}
	check("anonymous", "", "", anonymous)
	check("admin", "admin", adminPass, admin)
	check("chair", "chutich", chairPass, chair)
	if failed > 0 {
		t.Logf("%d of %d page sizes have findings", failed, len(pageSizes)*(len(anonymous)+len(admin)+len(chair)))
	}
}

// stdoutMatch waits for the hub's output to match re and returns the
// first group.
func stdoutMatch(t *testing.T, p *testProcess, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	var m []string
	hubtest.WaitFor(t, 30*time.Second, func() bool {
		m = rx.FindStringSubmatch(p.Stdout.String())
		return m != nil
	}, "the demo's output to match "+re)
	return m[1]
}

// screenshotDir is where TestEveryPageFitsTheScreen saves screenshots: ""
// (none) unless COMMUNEHUB_SCREENSHOTS is set; "1" means docs/screenshots.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("COMMUNEHUB_SCREENSHOTS")
	switch dir {
	case "":
		return ""
	case "1":
		dir = filepath.Join("..", "..", "docs", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// maxPNG is the size above which a screenshot is saved as a JPEG instead,
// to keep the repository small.
const maxPNG = 300 << 10

// saveScreenshot saves the viewport as base.png, or as base.jpg (quality
// 70) when the PNG would pass maxPNG; the other file is removed.
func saveScreenshot(t *testing.T, tab *hubtest.Page, base string) {
	t.Helper()
	img, err := chromedp.Run(tab.Ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	ext, other := ".png", ".jpg"
	if len(img) > maxPNG {
		jpeg := func(ctx context.Context, target *chromedp.Target) ([]byte, error) {
			q := int64(70)
			r, err := cdp.Call(ctx, target, page.CaptureScreenshot, page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormatJpeg, Quality: &q})
			return r.Data, err
		}
		if img, err = chromedp.Run(tab.Ctx, jpeg); err != nil {
			t.Fatal(err)
		}
		ext, other = other, ext
	}
	if err := os.WriteFile(base+ext, img, 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(base + other)
}
