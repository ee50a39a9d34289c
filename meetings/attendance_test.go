package meetings

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

func TestAttendanceGracePeriod(t *testing.T) {
	f := newFixture(t)
	f.open()
	uv1 := f.inv["uv1"] // online
	status := func() *Presence {
		t.Helper()
		st, err := f.p.State(f.ctx, f.meeting.ID)
		f.must(err)
		return st.Attendance[uv1.ID]
	}
	quorumPresent := func() int {
		st, err := f.p.State(f.ctx, f.meeting.ID)
		f.must(err)
		inv, err := f.p.Invitees(f.ctx, f.meeting.ID)
		f.must(err)
		m := map[int64]*Invitee{}
		for _, v := range inv {
			m[v.ID] = v
		}
		return presentSeats(st, m)
	}
	if quorumPresent() != 5 {
		t.Fatalf("present seats %d, want 5", quorumPresent())
	}

	// The link drops: reconnecting, still present, then back within the grace.
	f.clock.Add(10 * time.Minute)
	f.must(f.p.Drop(f.ctx, uv1))
	if p := status(); p.Status != AttReconnecting || p.Left != nil {
		t.Fatalf("after a drop: %+v", p)
	}
	if quorumPresent() != 5 {
		t.Fatal("a reconnecting member no longer counts as present")
	}
	f.clock.Add(20 * time.Second)
	n, err := f.p.Sweep(f.ctx)
	f.must(err)
	if n != 0 || status().Status != AttReconnecting {
		t.Fatalf("swept inside the grace period (%d): %+v", n, status())
	}
	f.must(f.p.Join(f.ctx, uv1, AttOnline))
	if p := status(); p.Status != AttOnline || len(p.Periods) != 1 || p.Periods[0].To != nil {
		t.Fatalf("back within the grace period: %+v", p)
	}

	// Dropped again and gone past the grace: left at the moment of the drop.
	f.clock.Add(5 * time.Minute)
	dropAt := f.clock.Now()
	f.must(f.p.Drop(f.ctx, uv1))
	f.clock.Add(31 * time.Second)
	n, err = f.p.Sweep(f.ctx)
	f.must(err)
	p := status()
	if n != 1 || p.Status != AttLeft || p.Left == nil || !p.Left.Equal(dropAt.UTC()) || p.Periods[0].To == nil {
		t.Fatalf("after the grace period (%d swept): %+v", n, p)
	}
	if quorumPresent() != 4 {
		t.Fatalf("present seats %d after leaving, want 4", quorumPresent())
	}
	if n, _ := f.p.Sweep(f.ctx); n != 0 {
		t.Fatal("swept twice")
	}
	// Coming back later is a new stretch of presence.
	f.must(f.p.Join(f.ctx, uv1, AttOnline))
	if p := status(); p.Status != AttOnline || len(p.Periods) != 2 {
		t.Fatalf("rejoined: %+v", p)
	}
}

func TestAttendanceRegisterKeptBySecretary(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(fixtureStart)
	sec, chair := f.inv["thuky"], f.inv["chutich"]
	f.must(f.p.MarkAttendance(f.ctx, sec, f.inv["uv2"].ID, AttAbsent, "Đi công tác huyện"))
	f.must(f.p.MarkAttendance(f.ctx, chair, f.inv["pct1"].ID, AttInHall, ""))
	f.wantCode(f.p.MarkAttendance(f.ctx, f.inv["pct2"], f.inv["uv1"].ID, AttInHall, ""), hub.EForbidden)
	f.wantCode(f.p.MarkAttendance(f.ctx, sec, f.inv["uv1"].ID, "sleeping", ""), hub.EInvalid)
	f.wantCode(f.p.MarkAttendance(f.ctx, sec, f.inv["uv1"].ID, AttInHall, "why"), hub.EInvalid)
	f.wantCode(f.p.MarkAttendance(f.ctx, sec, 424242, AttInHall, ""), hub.EInvalid)
	st, err := f.p.State(f.ctx, f.meeting.ID)
	f.must(err)
	if a := st.Attendance[f.inv["uv2"].ID]; a.Status != AttAbsent || a.Reason != "Đi công tác huyện" {
		t.Fatalf("absent with reason: %+v", a)
	}
	if st.StatusOf(f.inv["pct1"].ID) != AttInHall {
		t.Fatal("hall check-in not recorded")
	}
}

// startFollower publishes committed outbox rows on the fixture's bus.
func (f *fixture) startFollower() {
	ctx, cancel := context.WithCancel(context.Background())
	fol := hub.NewOutboxFollower(f.pool, f.bus, nopLog(), nil)
	done := make(chan struct{})
	go func() { defer close(done); fol.Run(ctx) }()
	f.t.Cleanup(func() { cancel(); <-done })
	// Until it has primed, the follower would publish only the latest event
	// of each topic: wait, so that what the test does next is followed.
	hubtest.WaitFor(f.t, 10*time.Second, func() bool { return fol.LastID() > 0 }, "the outbox follower to start")
}

func TestSessionsOverTheLog(t *testing.T) {
	f := newFixture(t)
	f.startFollower()
	f.clock.Set(fixtureStart)
	chairS, err := f.p.Attach(f.ctx, f.inv["chutich"])
	f.must(err)
	memberS, err := f.p.Attach(f.ctx, f.inv["pct1"])
	f.must(err)
	second, err := f.p.Attach(f.ctx, f.inv["pct1"]) // a second tab
	f.must(err)

	reply, err := chairS.Handle(f.ctx, []byte(`{"type":"meeting.open","ref":"a1"}`))
	f.must(err)
	if !strings.Contains(string(reply), `"type":"proc.ok"`) || !strings.Contains(string(reply), `"ref":"a1"`) {
		t.Fatalf("reply %s", reply)
	}
	reply, err = memberS.Handle(f.ctx, []byte(`{"type":"meeting.close","ref":"m1"}`))
	if err != nil || !strings.Contains(string(reply), `"type":"proc.error"`) || !strings.Contains(string(reply), `"code":"forbidden"`) ||
		!strings.Contains(string(reply), `"ref":"m1"`) {
		t.Fatalf("member closing: %v %s", err, reply)
	}
	for _, bad := range []string{`{"type":"vote.cast"}`, `{"type":"nope"}`, `{"type":"hand.raise","x":1}`, `[1]`, `{`} {
		reply, err := memberS.Handle(f.ctx, []byte(bad))
		if hub.ErrorCode(err) != hub.EInvalid || !strings.Contains(string(reply), `"code":"invalid"`) {
			t.Errorf("%s: %v %s", bad, err, reply)
		}
	}
	_, err = memberS.Handle(f.ctx, []byte(`{"type":"hand.raise"}`))
	f.must(err)

	var kinds []string
	var last int64
	// Each session sees the log in order from its subscription on. The
	// member's own "joined" may already be published when the second tab
	// subscribes (the follower is quick, the test goroutine may not be), so
	// what the tab sees ends "opened", "hand raised". 15 s: a follower may
	// wait up to its gap wait (10 s) for an id a transaction took and had
	// not committed yet.
	hubtest.WaitFor(t, 15*time.Second, func() bool {
		for _, fr := range second.Frames() {
			var m struct {
				Type, Topic string
				Data        ProcEvent
			}
			f.must(json.Unmarshal(fr, &m))
			if m.Type != "event" || m.Topic != LogTopic(f.meeting.ID) || (last != 0 && m.Data.Seq != last+1) {
				t.Fatalf("frame %s after seq %d", fr, last)
			}
			last = m.Data.Seq
			kinds = append(kinds, m.Data.Kind)
		}
		return len(kinds) >= 2 && kinds[len(kinds)-1] == EvHandRaised
	}, "the member's second tab to see the log")
	if kinds[len(kinds)-2] != EvMeetingOpened {
		t.Fatalf("log seen %v", kinds)
	}

	// Closing one of two tabs records nothing; closing the last one drops.
	second.Detach(f.ctx, false)
	st, _ := f.p.State(f.ctx, f.meeting.ID)
	if st.StatusOf(f.inv["pct1"].ID) != AttOnline {
		t.Fatalf("closing one tab of two: %s", st.StatusOf(f.inv["pct1"].ID))
	}
	memberS.Detach(f.ctx, false)
	memberS.Detach(f.ctx, false) // twice is harmless
	st, _ = f.p.State(f.ctx, f.meeting.ID)
	if st.StatusOf(f.inv["pct1"].ID) != AttReconnecting {
		t.Fatalf("dropped link: %s", st.StatusOf(f.inv["pct1"].ID))
	}
	chairS.Detach(f.ctx, true)
	st, _ = f.p.State(f.ctx, f.meeting.ID)
	if st.StatusOf(f.inv["chutich"].ID) != AttLeft {
		t.Fatalf("clean leave: %s", st.StatusOf(f.inv["chutich"].ID))
	}
	if _, err := chairS.Handle(f.ctx, []byte(`{"type":"hand.raise"}`)); err != ErrSessionClosed {
		t.Fatalf("Handle after Detach: %v", err)
	}
}
