package media

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/communehub/communehub/hub/hubtest"
)

// TestDemoTwoTabs is the "done when" check against a running hub:
// two users log in and hold the demo meeting in two Chromium tabs, each
// receiving the other's video. It runs only when MEETINGS_DEMO is set, as
// "URL,meeting,password,user1,user2", e.g.
//
//	MEETINGS_DEMO=http://192.0.2.2:8080,1,PASSWORD,chutich,phochutich go test -run TestDemoTwoTabs ./meetings/
func TestDemoTwoTabs(t *testing.T) {
	spec := os.Getenv("MEETINGS_DEMO")
	if spec == "" {
		t.Skip("set MEETINGS_DEMO=URL,meeting,password,user1,user2 to run against a hub in demo mode")
	}
	p := strings.Split(spec, ",")
	if len(p) != 5 {
		t.Fatalf("MEETINGS_DEMO=%q: want URL,meeting,password,user1,user2", spec)
	}
	base, meeting, password := p[0], p[1], p[2]
	login := func(user string) string {
		b, _ := json.Marshal(map[string]string{"username": user, "password": password})
		resp, err := http.Post(base+"/api/v1/login", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		for _, c := range resp.Cookies() {
			if c.Name == "communehub_session" {
				return c.Value
			}
		}
		t.Fatalf("login %s: %s", user, resp.Status)
		return ""
	}
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), hubtest.ChromeAllocatorOptions(t, hubtest.Chromium(t))...)
	defer cancel()
	browser, cancelB := chromedp.NewContext(alloc)
	defer cancelB()
	if err := chromedp.Do(browser); err != nil {
		t.Fatal(err)
	}
	var tabs []context.Context
	for _, user := range p[3:] {
		cookie := login(user)
		tab, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
		defer cancel()
		if err := chromedp.Do(tab, chromedp.Navigate(base+"/healthz")); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(tab, chromedp.Evaluate[string](fmt.Sprintf(`document.cookie = "communehub_session=%s; path=/"`, cookie))); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(tab, chromedp.Navigate(fmt.Sprintf("%s/meetings/%s?autojoin=av", base, meeting))); err != nil {
			t.Fatal(err)
		}
		if err := hubtest.WaitJS(tab, 30*time.Second, joinedJS); err != nil {
			t.Fatal(err)
		}
		tabs = append(tabs, tab)
	}
	for i, tab := range tabs {
		deadline := time.Now().Add(hubtest.Timeout(30 * time.Second))
		for {
			raw, err := chromedp.Run(tab, chromedp.Evaluate[json.RawMessage](`window.meetingStats()`, chromedp.EvalAsValue, chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatal(err)
			}
			var ps pageStats
			_ = json.Unmarshal(raw, &ps)
			if len(ps.InboundVideo) > 0 && ps.InboundVideo[0].FramesDecoded > 10 && len(ps.InboundAudio) > 0 {
				t.Logf("%s: %d frames decoded, %dpx", p[3+i], ps.InboundVideo[0].FramesDecoded, ps.InboundVideo[0].Width)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never decoded the other's video: %s", p[3+i], raw)
			}
			time.Sleep(300 * time.Millisecond) // sleep: the polling interval
		}
	}
}
