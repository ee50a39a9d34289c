package displays

import (
	"context"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Two hub instances on one PostgreSQL: a change made through instance A
// reaches a screen connected to instance B, through the outbox and B's
// follower, with the same seq.
func TestChangeThroughOneHubShowsOnAnother(t *testing.T) {
	poolA, url := newDBURL(t)
	poolB, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(poolB.Close)
	a := startHub(t, poolA, hubConfig{})
	b := startHub(t, poolB, hubConfig{})

	d, token := a.createDisplay("Phòng điều hành", "03244", LayoutCommune, Internal)
	c := b.connect(map[string]any{"type": "hello", "token": token})
	c.next("snapshot")

	// A data change committed through A.
	start := time.Now()
	err = pgx.BeginFunc(context.Background(), poolA, func(tx pgx.Tx) error {
		return hub.WriteEvent(context.Background(), tx, kpi, kpiPayload("03244", 9, 2, 1))
	})
	if err != nil {
		t.Fatal(err)
	}
	ev := c.next("event")
	if ev["topic"] != kpi || num(ev["seq"]) != 1 || num(ev["data"].(map[string]any)["dossiers"].(map[string]any)["open"]) != 9 {
		t.Fatalf("event on B = %v", ev)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("A's change reached B's screen after %v", el)
	}
	hubtest.WaitFor(t, 5*time.Second, func() bool { return a.bus.Seq(kpi) == 1 && b.bus.Seq(kpi) == 1 }, "both buses at seq 1")

	// A configuration change and a command through A's REST API.
	if st := a.do("PATCH", "/api/v1/displays/"+itoa(d.ID), map[string]any{"name": "Phòng điều hành 2", "lang": "en"}, nil); st != 200 {
		t.Fatalf("patch through A: %d", st)
	}
	snap := c.next("snapshot")
	if disp := snap["display"].(map[string]any); disp["name"] != "Phòng điều hành 2" || disp["lang"] != "en" {
		t.Errorf("B's screen shows %v", disp)
	}
	var cmd Command
	if st := a.do("POST", "/api/v1/displays/"+itoa(d.ID)+"/commands", map[string]any{"command": "reload"}, &cmd); st != 202 {
		t.Fatalf("command through A: %d", st)
	}
	if m := c.next("command"); num(m["id"]) != uint64(cmd.ID) {
		t.Fatalf("command on B = %v", m)
	}
	c.send(map[string]any{"type": "ack", "id": cmd.ID, "ok": true, "result": "reloading"})
	c.send(map[string]any{"type": "rendered", "seq": 1, "layout": "commune", "topics": map[string]uint64{kpi: 1}})
	hubtest.WaitFor(t, 5*time.Second, func() bool {
		var info DisplayInfo
		a.do("GET", "/api/v1/displays/"+itoa(d.ID), nil, &info)
		return info.LastCommand != nil && info.LastCommand.AckedAt != nil && info.Status.Online &&
			info.Status.BehindBy != nil && *info.Status.BehindBy == 0
	}, "A to see B's screen online, up to date, command acknowledged")

	// Pairing through A of a screen waiting on B.
	p := b.connect(map[string]any{"type": "hello", "pair": "another-tv-secret-0123456789"})
	code := p.next("pairing")["code"].(string)
	if st := a.do("POST", "/api/v1/displays/pair", map[string]any{"code": code, "name": "TV 2", "scope": "11", "layout": "province", "classification": "public"}, nil); st != 201 {
		t.Fatalf("pair through A: %d", st)
	}
	p.next("paired")
	if s := p.next("snapshot"); s["display"].(map[string]any)["active_layout"] != "province" {
		t.Errorf("paired screen on B shows %v", s["display"])
	}

	// Revocation through A closes the screen on B.
	if st := a.do("DELETE", "/api/v1/displays/"+itoa(d.ID), nil, nil); st != 204 {
		t.Fatalf("revoke through A: %d", st)
	}
	if code, _ := c.closed(); code != 4401 {
		t.Errorf("revoked screen on B closed with %d", code)
	}
}

func TestScheduleSwitchesLayout(t *testing.T) {
	h := startHub(t, newDB(t), hubConfig{})
	d, token := h.createDisplay("Phòng họp", "03244", LayoutCommune, Internal)
	// A window from this minute to two minutes on (windows do not cross
	// midnight, so the last minutes of a Vietnamese day are skipped).
	now := time.Now().In(vietnam).Truncate(time.Minute)
	later := now.Add(3 * time.Minute) // after the window
	if later.Day() != now.Day() {
		t.Skip("the window would end after midnight")
	}
	sched := []ScheduleEntry{{From: now.Format("15:04"), To: now.Add(2 * time.Minute).Format("15:04"), Layout: LayoutMeeting}}
	c := h.connect(map[string]any{"type": "hello", "token": token})
	c.next("snapshot")
	if st := h.do("PATCH", "/api/v1/displays/"+itoa(d.ID), map[string]any{"schedule": sched}, nil); st != 200 {
		t.Fatalf("patch: %d", st)
	}
	if s := c.next("snapshot"); s["display"].(map[string]any)["active_layout"] != LayoutMeeting {
		t.Fatalf("after the schedule: %v, want %s", s["display"], LayoutMeeting)
	}
	// The runner switches back when the window is over (here: at a time after it).
	if err := h.svc.applySchedules(context.Background(), later); err != nil {
		t.Fatal(err)
	}
	if s := c.next("snapshot"); s["display"].(map[string]any)["active_layout"] != LayoutCommune {
		t.Errorf("after the window: %v", s["display"])
	}
	if err := h.svc.applySchedules(context.Background(), later); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-c.msgs:
		if m["type"] == "snapshot" {
			t.Errorf("a second run with nothing to change sent a snapshot")
		}
	case <-time.After(hubtest.Timeout(300 * time.Millisecond)):
	}
}

func TestDemoScreensKeepTheirLinks(t *testing.T) {
	h := startHub(t, newDB(t), hubConfig{})
	path := t.TempDir() + "/demo-screens.json"
	want := []DemoScreen{
		{Name: "Demo xã", Scope: "03244", Layout: LayoutCommune, Classification: Internal},
		{Name: "Demo tỉnh", Scope: "11", Layout: LayoutProvince, Classification: Public},
	}
	first, err := h.svc.EnsureDemoScreens(context.Background(), path, want)
	if err != nil {
		t.Fatal(err)
	}
	again, err := h.svc.EnsureDemoScreens(context.Background(), path, want)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 || first[0].Token == "" || first[0].Token != again[0].Token || first[1].ID != again[1].ID {
		t.Fatalf("links changed between starts: %+v %+v", first, again)
	}
	c := h.connect(map[string]any{"type": "hello", "token": first[1].Token})
	if s := c.next("snapshot"); s["display"].(map[string]any)["active_layout"] != "province" {
		t.Errorf("province demo screen: %v", s["display"])
	}
	// Revoked, it is made again with a new link.
	h.do("DELETE", "/api/v1/displays/"+itoa(first[0].ID), nil, nil)
	third, err := h.svc.EnsureDemoScreens(context.Background(), path, want)
	if err != nil {
		t.Fatal(err)
	}
	if third[0].Token == first[0].Token || third[1].Token != first[1].Token {
		t.Errorf("after revocation: %+v", third)
	}
}
