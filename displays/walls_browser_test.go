package displays

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/communehub/communehub/hub/hubtest"
)

// What the duty staff see on a wall from across the room: a lost connection
// and stale data announced, titles whole, every commune paged through, an
// empty vote said so, numbers in the wall's language.

// openWall opens a display's wall in a new browser of w×h and waits until it
// is live.
func openWall(t *testing.T, h *testHub, token, query string, w, ht int64) context.Context {
	t.Helper()
	tv := browser(t, w, ht)
	if err := chromedp.Do(tv, chromedp.Navigate("http://"+h.addr+"/display"+query+"#token="+token)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, tv, 10*time.Second, `document.querySelector('.conn').dataset.state === 'live' && document.querySelectorAll('.tile').length > 0`, "the wall live")
	return tv
}

const bannerShown = `(() => { const b = document.getElementById('banner'); return !!b && !b.hidden && b.offsetHeight > 0; })()`

func TestBrowserBannerWhenConnectionLost(t *testing.T) {
	pool := newDB(t)
	h := startHub(t, pool, hubConfig{})
	addr := h.addr
	_, token := h.createDisplay("Phòng điều hành", "03244", LayoutCommune, Internal)
	writeEvent(t, pool, kpi, kpiPayload("03244", 5, 0, 0))
	tv := openWall(t, h, token, "", 1920, 1080)
	waitJS(t, tv, 5*time.Second, openValue+` === '5'`, "the dossiers")
	if evalJS[bool](t, tv, bannerShown) {
		t.Fatalf("a banner on a live wall: %q", evalJS[string](t, tv, `document.getElementById('banner').textContent`))
	}

	wallHeight := evalJS[int](t, tv, `document.querySelector('main.wall').offsetHeight`)
	lost := time.Now().In(vietnam)
	h.stop()
	waitJS(t, tv, 5*time.Second, bannerShown, "the connection-lost banner")
	// The banner takes the header's place: the tiles keep their size.
	if got := evalJS[int](t, tv, `document.querySelector('main.wall').offsetHeight`); got != wallHeight {
		t.Errorf("the wall shrank from %d to %d px under the banner", wallHeight, got)
	}
	if over := evalJS[bool](t, tv, `(() => { const b = document.querySelector('header.topbar'); return b.scrollWidth > b.clientWidth + 1; })()`); over {
		t.Errorf("the header overflows with the banner: %q", evalJS[string](t, tv, `document.querySelector('header.topbar').innerText`))
	}
	title := evalJS[string](t, tv, `document.querySelector('#banner .btitle').textContent`)
	m := regexp.MustCompile(`^Mất kết nối từ (\d\d:\d\d)$`).FindStringSubmatch(title)
	if m == nil {
		t.Fatalf("banner title %q", title)
	}
	if want, next := lost.Format("15:04"), lost.Add(time.Minute).Format("15:04"); m[1] != want && m[1] != next {
		t.Errorf("banner says since %s, the hub stopped at %s (Vietnam time)", m[1], want)
	}
	// Large enough to read at 5 m: at least twice the tiles' titles.
	if px := evalJS[float64](t, tv, `parseFloat(getComputedStyle(document.querySelector('#banner .btitle')).fontSize)`); px < 40 {
		t.Errorf("banner title is %.0f px", px)
	}
	// The data's age counts up.
	age := evalJS[string](t, tv, `document.querySelector('#banner .bage').textContent`)
	waitJS(t, tv, 5*time.Second, `document.querySelector('#banner .bage').textContent !== `+jsString(age), "the data's age to move on from "+age)
	// The tiles are dimmed, their values kept.
	if op := evalJS[float64](t, tv, `parseFloat(getComputedStyle(document.querySelector('.tile.dossiers .body')).opacity)`); op > 0.6 {
		t.Errorf("tiles of a disconnected wall at opacity %.2f", op)
	}
	if got := evalJS[string](t, tv, openValue); got != "5" {
		t.Errorf("the last value was not kept: %q", got)
	}

	startHub(t, pool, hubConfig{addr: addr})
	waitJS(t, tv, 30*time.Second, `document.querySelector('.conn').dataset.state === 'live' && !`+bannerShown, "the banner gone once live again")
	if op := evalJS[float64](t, tv, `parseFloat(getComputedStyle(document.querySelector('.tile.dossiers .body')).opacity)`); op < 0.99 {
		t.Errorf("tiles of a live wall at opacity %.2f", op)
	}
}

func TestBrowserBannerWhenDataStale(t *testing.T) {
	h := startHub(t, newDB(t), hubConfig{opts: func(o *Config) { o.Stale = map[string]time.Duration{"devices": 2 * time.Second} }})
	d, token := h.createDisplay("Phòng điều hành", "03244", LayoutCommune, Internal)
	h.publish(kpi, kpiPayload("03244", 5, 0, 0))
	h.publish("commune/03244/devices", devicesPayload("03244", time.Now(), 4, 0, 12))
	tv := openWall(t, h, token, "", 1920, 1080)
	waitJS(t, tv, 5*time.Second, `document.querySelector('.devices .stats .value')?.textContent === '4'`, "the devices tile")
	// The source stops; the socket stays up.
	waitJS(t, tv, 6*time.Second, bannerShown+` && document.getElementById('banner').dataset.kind === 'stale'`, "the stale-data banner")
	if got := evalJS[string](t, tv, `document.querySelector('#banner .btitle').textContent`); got != "Dữ liệu cũ: Thiết bị và mạng" {
		t.Errorf("stale banner title %q", got)
	}
	if got := evalJS[string](t, tv, `document.querySelector('#banner .bage').textContent`); !regexp.MustCompile(`^lần cuối \d\d:\d\d · \d+ giây trước$`).MatchString(got) {
		t.Errorf("stale banner age %q", got)
	}
	h.publish("commune/03244/devices", devicesPayload("03244", time.Now(), 4, 0, 12))
	waitJS(t, tv, 3*time.Second, `!`+bannerShown, "the banner gone when the data is fresh")

	// In English.
	if st := h.do("PATCH", "/api/v1/displays/"+itoa(d.ID), map[string]any{"lang": "en"}, nil); st != 200 {
		t.Fatalf("patch: %d", st)
	}
	waitJS(t, tv, 6*time.Second, bannerShown+` && document.querySelector('#banner .btitle').textContent === 'Stale data: Devices and network'`, "the stale banner in English")
}

// A long incident title is shown whole at the two common TV resolutions.
func TestBrowserLongIncidentTitleFits(t *testing.T) {
	h := startHub(t, newDB(t), hubConfig{})
	_, token := h.createDisplay("Phòng điều hành", "03244", LayoutCommune, Internal)
	now := time.Now()
	titles := []string{
		"Mất kết nối bộ chuyển mạch tầng 2 nhà văn hoá thôn Sáng Nhè — 12 thiết bị không truy cập được",
		"Mất điện tủ mạng trạm y tế xã, UPS đang cấp điện — 2 thiết bị không truy cập được",
	}
	dev := devicesPayload("03244", now, 14, 1, 18)
	dev["incidents"] = []any{
		map[string]any{"id": "inc-1", "kind": "switch_down", "title": titles[0], "affected": 12, "since": now.Add(-40 * time.Minute).Format(time.RFC3339)},
		map[string]any{"id": "inc-2", "kind": "power_cut", "title": titles[1], "affected": 2, "ups_minutes": 25, "since": now.Add(-15 * time.Minute).Format(time.RFC3339)},
	}
	h.publish(kpi, kpiPayload("03244", 37, 3, 5))
	h.publish("commune/03244/backlog", backlogPayload("03244", now))
	h.publish("commune/03244/devices", dev)
	h.publish("commune/03244/meetings", meetingsPayload("03244", now, 0))
	for _, size := range [][2]int64{{1366, 768}, {1920, 1080}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			tv := openWall(t, h, token, "", size[0], size[1])
			waitJS(t, tv, 5*time.Second, `document.querySelectorAll('.devices .incidents li .name').length === 2`, "the incidents")
			got := evalJS[string](t, tv, `(() => {
				for (const el of document.querySelectorAll('.devices .incidents li .name')) {
					if (el.scrollWidth > el.clientWidth || el.scrollHeight > el.clientHeight + 1) return 'overflows: ' + el.textContent;
					const r = el.getBoundingClientRect();
					for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
						const cs = getComputedStyle(p);
						if (cs.overflowX === 'visible' && cs.overflowY === 'visible') continue;
						const q = p.getBoundingClientRect();
						if (r.left < q.left - 1 || r.right > q.right + 1 || r.top < q.top - 1 || r.bottom > q.bottom + 1) return 'clipped by ' + p.tagName + '.' + p.className + ': ' + el.textContent;
					}
				}
				return [...document.querySelectorAll('.devices .incidents li .name')].map((e) => e.textContent).join('|');
			})()`)
			if want := titles[0] + "|" + titles[1]; got != want {
				t.Errorf("incident titles: %s", got)
			}
			if over := evalJS[bool](t, tv, `document.documentElement.scrollHeight > innerHeight + 1 || document.documentElement.scrollWidth > innerWidth + 1`); over {
				t.Errorf("the wall overflows the screen")
			}
		})
	}
}

func rankCommunes(active, idle int) []map[string]any {
	var cs []map[string]any
	for i := 0; i < active+idle; i++ {
		c := map[string]any{"code": fmt.Sprintf("%05d", 10000+i), "name": fmt.Sprintf("Xã Thử %02d", i), "received": 100,
			"open": 0, "open_overdue": 0, "open_due_soon": 0, "on_time_rate": rate(90, 100), "documents_backlog": 0, "documents_overdue": 0}
		if i < active {
			c["open"], c["open_overdue"] = 5+i%7, i%4
		}
		cs = append(cs, c)
	}
	return cs
}

const rankNames = `[...document.querySelectorAll('.ranking table.rank')].filter((t) => t.offsetParent !== null).flatMap((t) => [...t.querySelectorAll('tbody tr td:nth-child(2)')].map((td) => td.textContent)).join('|')`

// Every commune with something open is shown, page after page; a short
// list takes one column.
func TestBrowserProvinceRankingPages(t *testing.T) {
	h := startHub(t, newDB(t), hubConfig{})
	_, token := h.createDisplay("Toàn tỉnh", "11", LayoutProvince, Internal)
	h.publish("province/11/kpi", provincePayload(time.Now(), rankCommunes(5, 10)))
	tv := openWall(t, h, token, "?page_seconds=2", 1920, 1080)
	waitJS(t, tv, 5*time.Second, `document.querySelectorAll('.ranking tbody tr').length === 5`, "five communes ranked")
	if n := evalJS[int](t, tv, `[...document.querySelectorAll('.ranking table.rank')].filter((t) => t.offsetParent !== null).length`); n != 1 {
		t.Errorf("%d tables shown for 5 communes, want one column", n)
	}
	if got := evalJS[string](t, tv, `document.querySelector('.ranking .more').textContent`); got != "+10 xã, phường không có hồ sơ, văn bản đang chờ" {
		t.Errorf("under the ranking: %q", got)
	}

	// 60 communes with something open: pages of 20, two columns of 10.
	h.publish("province/11/kpi", provincePayload(time.Now(), rankCommunes(60, 0)))
	waitJS(t, tv, 5*time.Second, `/^trang [123]\/3$/.test(document.querySelector('.ranking .page').textContent)`, "the page number")
	seen := map[string]bool{}
	pages := map[string]bool{}
	hubtest.WaitFor(t, 15*time.Second, func() bool {
		pages[evalJS[string](t, tv, `document.querySelector('.ranking .page').textContent`)] = true
		for _, n := range regexp.MustCompile(`\|`).Split(evalJS[string](t, tv, rankNames), -1) {
			if n != "" {
				seen[n] = true
			}
		}
		return len(seen) == 60 && len(pages) == 3
	}, "every commune shown on one of three pages")
	if got := evalJS[string](t, tv, `document.querySelector('.ranking .more').textContent`); regexp.MustCompile(`khác`).MatchString(got) {
		t.Errorf("communes still hidden behind %q", got)
	}
	if n := evalJS[int](t, tv, `[...document.querySelectorAll('.ranking table.rank')].filter((t) => t.offsetParent !== null && t.querySelectorAll('tbody tr').length === 10).length`); n != 2 {
		t.Errorf("%d columns of 10 rows", n)
	}
}

func TestBrowserMeetingWithoutVote(t *testing.T) {
	h := startHub(t, newDB(t), hubConfig{})
	_, token := h.createDisplay("Hội trường", "03244", LayoutMeeting, Internal)
	now := time.Now()
	mt := meetingPayload(5, now)
	mt["vote"] = nil
	h.publish("commune/03244/meetings", meetingsPayload("03244", now, 5))
	h.publish("meeting/5", mt)
	tv := openWall(t, h, token, "", 1920, 1080)
	waitJS(t, tv, 5*time.Second, `document.querySelector('.session .mtitle').textContent === 'Kỳ họp thứ 5 Hội đồng nhân dân xã'`, "the meeting")
	state := `(() => { const nv = document.querySelector('.vote .novote'); const bars = document.querySelector('.vote .bars');
		return (nv && nv.offsetParent !== null ? nv.textContent : '') + '|' + (bars.offsetParent !== null ? 'bars' : ''); })()`
	if got := evalJS[string](t, tv, state); got != "Chưa có biểu quyết|" {
		t.Errorf("vote panel before a vote: %q", got)
	}
	h.publish("meeting/5", meetingPayload(5, now))
	waitJS(t, tv, 5*time.Second, state+` === '|bars' && document.querySelector('.vote .vbar.yes .n').textContent === '17'`, "the vote result")
	h.publish("commune/03244/meetings", meetingsPayload("03244", now, 0))
	waitJS(t, tv, 5*time.Second, state+` === 'Chưa có biểu quyết|'`, "the empty state with no meeting")
}

func TestBrowserNumbersFollowTheLanguage(t *testing.T) {
	h := startHub(t, newDB(t), hubConfig{})
	d, token := h.createDisplay("Phòng điều hành", "03244", LayoutCommune, Internal)
	h.publish(kpi, kpiPayload("03244", 2618, 3, 5)) // received 1108, on time 1052/1108
	tv := openWall(t, h, token, "", 1920, 1080)
	values := `[...document.querySelectorAll('.dossiers .value')].slice(0, 5).map((e) => e.textContent).join(' ')`
	waitJS(t, tv, 5*time.Second, openValue+` === '2.618'`, "Vietnamese numbers")
	if got := evalJS[string](t, tv, values); got != "2.618 3 5 94,9% 1.108" {
		t.Errorf("Vietnamese: %q", got)
	}
	if st := h.do("PATCH", "/api/v1/displays/"+itoa(d.ID), map[string]any{"lang": "en"}, nil); st != 200 {
		t.Fatalf("patch: %d", st)
	}
	waitJS(t, tv, 5*time.Second, `document.querySelector('.dossiers h2').textContent === 'Administrative dossiers'`, "the wall in English")
	if got := evalJS[string](t, tv, values); got != "2,618 3 5 94.9% 1,108" {
		t.Errorf("English: %q", got)
	}
	// The backlog page formats with the same module.
	evalJS[bool](t, tv, `(import('/static/hub/format.js').then((f) => { window.__fmt = [f.pct(0.943, 'vi'), f.pct(0.943, 'en'), f.num(2618, 'vi'), f.num(2618, 'en'), f.pct(null)].join(' '); }), true)`)
	waitJS(t, tv, 5*time.Second, `window.__fmt`, "format.js loaded")
	got := evalJS[string](t, tv, `window.__fmt`)
	if got != "94,3% 94.3% 2.618 2,618 –" {
		t.Errorf("format.js: %q", got)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// A full action list with long procedure names: each name wraps to at most
// two lines, no row is cut by the tile, and the rows that do not fit are
// counted in "+N" (overdue and due soon both at the 6 the wall takes).
func TestBrowserLongDossierListFits(t *testing.T) {
	h := startHub(t, newDB(t), hubConfig{})
	_, token := h.createDisplay("Phòng điều hành", "03244", LayoutCommune, Internal)
	now := time.Now()
	names := []string{
		"Đăng ký biến động quyền sử dụng đất, tài sản gắn liền với đất",
		"Chứng thực hợp đồng, giao dịch liên quan đến tài sản là động sản",
		"Chứng thực chữ ký trong các giấy tờ, văn bản",
	}
	item := func(i int, due time.Time) map[string]any {
		return map[string]any{"code": fmt.Sprintf("000.00.11.H17-261207-%04d", i), "procedure": "1.001612",
			"procedure_name": names[i%len(names)], "status": 4, "due_at": due.Format(time.RFC3339)}
	}
	var overdue, due []any
	for i := 0; i < 8; i++ {
		overdue = append(overdue, item(i, now.Add(-time.Duration(i+1)*time.Hour)))
		due = append(due, item(20+i, now.Add(time.Duration(i+2)*time.Hour)))
	}
	backlog := backlogPayload("03244", now)
	backlog["dossiers"] = map[string]any{"overdue": overdue, "due_soon": due}
	h.publish(kpi, kpiPayload("03244", 37, 8, 8))
	h.publish("commune/03244/backlog", backlog)
	h.publish("commune/03244/devices", devicesPayload("03244", now, 14, 1, 18))
	h.publish("commune/03244/meetings", meetingsPayload("03244", now, 0))
	for _, size := range [][2]int64{{1366, 768}, {1920, 1080}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			tv := openWall(t, h, token, "", size[0], size[1])
			waitJS(t, tv, 5*time.Second, `document.querySelectorAll('.lists li.row').length > 0`, "the action list")
			got := evalJS[string](t, tv, `(() => {
				const body = document.querySelector('.lists .body');
				if (body.scrollHeight > body.clientHeight + 1) return 'the tile overflows';
				const q = body.getBoundingClientRect();
				for (const li of document.querySelectorAll('.lists li')) {
					const r = li.getBoundingClientRect();
					if (r.bottom > q.bottom + 1) return 'row cut by the tile: ' + li.textContent;
				}
				for (const el of document.querySelectorAll('.lists li.row .name')) {
					const lh = parseFloat(getComputedStyle(el).lineHeight);
					if (el.clientHeight > 2 * lh + 1) return 'more than two lines: ' + el.textContent;
					if (el.title !== el.textContent) return 'no title: ' + el.textContent;
				}
				let shown = 0, hidden = 0;
				for (const ul of document.querySelectorAll('.lists ul.items')) {
					shown += ul.querySelectorAll('li.row').length;
					const more = ul.querySelector('li.more');
					if (more) hidden += Number(more.textContent.replace('+', ''));
				}
				return shown + hidden === 16 ? 'ok' : 'rows shown ' + shown + ' + counted ' + hidden + ', want 16';
			})()`)
			if got != "ok" {
				t.Error(got)
			}
			if n := evalJS[int](t, tv, `document.querySelector('.lists .name').getClientRects().length && Math.round(document.querySelector('.lists .name').clientHeight / parseFloat(getComputedStyle(document.querySelector('.lists .name')).lineHeight))`); n != 2 {
				t.Errorf("a long procedure name takes %d lines, want 2 (wrapped, not cut on one)", n)
			}
		})
	}
}
