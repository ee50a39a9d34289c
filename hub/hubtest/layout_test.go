package hubtest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// layoutPages are small pages, each with one defect Layout must find (want:
// kind and a part of the selector), or none.
var layoutPages = map[string]struct {
	html string
	want []string // "kind selector-part"
}{
	"/clean": {`<style>.tile{width:200px;height:60px;overflow:hidden} .scroll{height:40px;overflow:auto}
		.ell{width:80px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
		.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0,0,0,0)}</style>
		<div class="tile"><b>Hồ sơ</b> 12</div>
		<div class="scroll"><p>one</p><p>two</p><p>three</p><p>four</p></div>
		<div class="ell" title="Một tên rất dài không vừa ô">Một tên rất dài không vừa ô</div>
		<div class="tile" data-layout-clip><p style="margin-top:50px">ticker cut on purpose</p></div>
		<span class="sr">for screen readers only</span>
		<div class="tile"><p style="margin-top:100px">next slide, wholly hidden</p></div>`, nil},
	"/overflow": {`<style>body{margin:0}</style><div class="wide" style="width:3000px">too wide</div>`,
		[]string{"overflow html", "overflow div.wide"}},
	"/clipped-self": {`<style>.cell{width:50px;white-space:nowrap;overflow:hidden}</style>
		<table><tr><td><div class="cell">Ủy ban nhân dân xã Sáng Nhè</div></td></tr></table>`,
		[]string{"clipped td > div.cell"}},
	"/clipped-ancestor": {`<style>.card{width:300px;height:30px;overflow:hidden;line-height:20px}</style>
		<div class="card"><p class="title" style="margin:0">first line</p><p class="sub" style="margin:0">second line, half cut</p></div>`,
		[]string{"clipped p.sub"}},
	"/ellipsis-no-title": {`<style>.btn{width:60px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}</style>
		<button class="btn">Ghép nối màn hình</button>`,
		[]string{"clipped button.btn"}},
	"/console": {`<script>console.error("boom"); setTimeout(() => { throw new Error("uncaught one") }, 0)</script>`,
		[]string{"console boom", "console uncaught one"}},
}

func TestLayoutFindsEachDefect(t *testing.T) {
	chromium := Chromium(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pg, ok := layoutPages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><meta charset="utf-8"><body>` + pg.html))
	}))
	defer srv.Close()
	p := NewPage(t, chromium, 60*time.Second)
	p.Do(chromedp.EmulateViewport(1366, 768))
	for path, pg := range layoutPages {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			p.Do(chromedp.Navigate(srv.URL + path))
			p.Settle(10*time.Second, 200*time.Millisecond)
			var fs []Finding
			// Console messages arrive asynchronously: poll until all wanted are in.
			deadline := time.Now().Add(Timeout(5 * time.Second))
			for {
				got, err := p.Layout()
				if err != nil {
					t.Fatal(err)
				}
				fs = append(fs, got...)
				if missing(fs, pg.want) == "" || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond) // sleep: the polling interval
			}
			if m := missing(fs, pg.want); m != "" {
				t.Errorf("%s: no finding %s in:%s", path, m, Findings(fs))
			}
			for _, f := range fs {
				if !wanted(f, pg.want) {
					t.Errorf("%s: unexpected finding %s", path, f)
				}
			}
		})
	}
}

func matches(f Finding, w string) bool {
	kind, part, _ := strings.Cut(w, " ")
	return f.Kind == kind && (strings.Contains(f.Selector, part) || strings.Contains(f.Text, part))
}

func wanted(f Finding, want []string) bool {
	for _, w := range want {
		if matches(f, w) {
			return true
		}
	}
	return false
}

func missing(fs []Finding, want []string) string {
	for _, w := range want {
		found := false
		for _, f := range fs {
			found = found || matches(f, w)
		}
		if !found {
			return w
		}
	}
	return ""
}
