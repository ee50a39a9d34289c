package alerts

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// The devices page, in a real Chromium, says under an open incident who
// was told and when: "Đã báo: Nguyễn Văn A (email) HH:MM", to a
// technician, in both languages.
func TestDevicesPageShowsWhoWasNotified(t *testing.T) {
	t.Parallel()
	chrome := hubtest.Chromium(t)
	pool := newPool(t)
	dumpQueue(t, pool)
	mb := newMailbox(t)
	email := addChannel(t, pool, "Email xã", KindEmail, emailConfig(mb))
	addRule(t, pool, Rule{Name: "Trực kỹ thuật", Unit: "03244", Kinds: []string{EventDeviceDown},
		Recipients: []Recipient{{Channel: email, To: "truc@xa.gov.vn", Name: "Nguyễn Văn A"}}})
	listen := fmt.Sprintf("127.0.0.1:%d", hubtest.FreePort(t))
	h := startFullHub(t, pool, listen, fastConfig())

	log := slog.New(slog.DiscardHandler)
	auth := hub.NewAuth(pool, hub.AuthConfig{}, log)
	core := &hub.Core{Pool: pool, Bus: h.alerts.bus, Topics: h.alerts.topics, Auth: auth, Units: hub.NewUnits(pool), Metrics: h.alerts.reg,
		Sockets: hub.NewSockets(), Ready: hub.NewReadiness(), Logger: log}
	app := hub.NewApp(hub.AppOptions{Logger: log, Metrics: h.alerts.reg})
	routes := core.Routes(app, core.Mount(app))
	h.dev.Mount(routes)
	h.alerts.svc.Mount(routes)
	if _, err := auth.CreateUser(context.Background(), "kythuat", hub.RoleTechnician, "ky-thuat-mat-khau"); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	base := "http://" + ln.Addr().String()

	dev := "communehub/03244/router-1/"
	publishMQTT(t, listen, dev+"meta", `{"name":"Router xã","kind":"router"}`)
	publishMQTT(t, listen, dev+"status", "online")
	alive := keepAlive(t, listen, dev+"telemetry")
	hubtest.WaitFor(t, 10*time.Second, func() bool {
		return count(t, pool, `SELECT count(*) FROM devices WHERE unit='03244' AND id='router-1' AND status='online'`) == 1
	}, "router online")
	alive()
	publishMQTT(t, listen, dev+"status", "offline")
	hubtest.WaitFor(t, 10*time.Second, func() bool { return mb.count("truc@xa.gov.vn", "Sự cố") == 1 }, "the incident's email")

	tab := hubtest.NewPage(t, chrome, 2*time.Minute)
	tab.Do(chromedp.Navigate(base + "/login"))
	tab.WaitJS(30*time.Second, `fetch('/api/v1/login', {method: 'POST', headers: {'Content-Type': 'application/json'},
		body: JSON.stringify({username: 'kythuat', password: 'ky-thuat-mat-khau'})}).then((r) => r.ok)`)
	tab.Do(chromedp.Navigate(base + "/devices?unit=03244"))
	tab.WaitJS(30*time.Second, `(document.documentElement.lang === 'vi') || (document.getElementById('lang').click(), false)`)
	tab.WaitJS(30*time.Second, `/^Đã báo: Nguyễn Văn A \(email\) \d\d:\d\d$/.test(document.querySelector('#incidents .notified')?.textContent || '')`)
	tab.Do(chromedp.Click(`#lang`))
	tab.WaitJS(10*time.Second, `/^Notified: Nguyễn Văn A \(email\) \d\d:\d\d$/.test(document.querySelector('#incidents .notified')?.textContent || '')`)
	for _, size := range [][2]int64{{1366, 768}, {1920, 1080}} {
		tab.Do(chromedp.EmulateViewport(size[0], size[1]))
		if fs, err := tab.Layout(); err != nil || len(fs) > 0 {
			t.Errorf("/devices at %dx%d with the notified line: %v%s", size[0], size[1], err, hubtest.Findings(fs))
		}
	}
	if line := tab.Text(`#incidents li`); !strings.Contains(line, "Notified") {
		t.Errorf("incident line %q", line)
	}
}
