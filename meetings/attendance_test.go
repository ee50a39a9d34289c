package meetings_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	. "github.com/communehub/communehub/meetings"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

func TestAttendanceGracePeriod(t *testing.T) {
	f := newFixture(t)
	f.Open()
	uv1 := f.Inv["uv1"] // online
	status := func() *Presence {
		t.Helper()
		st, err := f.P.State(f.Ctx, f.Meeting.ID)
		f.Must(err)
		return st.Attendance[uv1.ID]
	}
	quorumPresent := func() int {
		st, err := f.P.State(f.Ctx, f.Meeting.ID)
		f.Must(err)
		inv, err := f.P.Invitees(f.Ctx, f.Meeting.ID)
		f.Must(err)
		m := map[int64]*Invitee{}
		for _, v := range inv {
			m[v.ID] = v
		}
		return PresentSeats(st, m)
	}
	if quorumPresent() != 5 {
		t.Fatalf("present seats %d, want 5", quorumPresent())
	}

	// The link drops: reconnecting, still present, then back within the grace.
	f.Clock.Add(10 * time.Minute)
	f.Must(f.P.Drop(f.Ctx, uv1))
	if p := status(); p.Status != AttReconnecting || p.Left != nil {
		t.Fatalf("after a drop: %+v", p)
	}
	if quorumPresent() != 5 {
		t.Fatal("a reconnecting member no longer counts as present")
	}
	f.Clock.Add(20 * time.Second)
	n, err := f.P.Sweep(f.Ctx)
	f.Must(err)
	if n != 0 || status().Status != AttReconnecting {
		t.Fatalf("swept inside the grace period (%d): %+v", n, status())
	}
	f.Must(f.P.Join(f.Ctx, uv1, AttOnline))
	if p := status(); p.Status != AttOnline || len(p.Periods) != 1 || p.Periods[0].To != nil {
		t.Fatalf("back within the grace period: %+v", p)
	}

	// Dropped again and gone past the grace: left at the moment of the drop.
	f.Clock.Add(5 * time.Minute)
	dropAt := f.Clock.Now()
	f.Must(f.P.Drop(f.Ctx, uv1))
	f.Clock.Add(31 * time.Second)
	n, err = f.P.Sweep(f.Ctx)
	f.Must(err)
	p := status()
	if n != 1 || p.Status != AttLeft || p.Left == nil || !p.Left.Equal(dropAt.UTC()) || p.Periods[0].To == nil {
		t.Fatalf("after the grace period (%d swept): %+v", n, p)
	}
	if quorumPresent() != 4 {
		t.Fatalf("present seats %d after leaving, want 4", quorumPresent())
	}
	if n, _ := f.P.Sweep(f.Ctx); n != 0 {
		t.Fatal("swept twice")
	}
	// Coming back later is a new stretch of presence.
	f.Must(f.P.Join(f.Ctx, uv1, AttOnline))
	if p := status(); p.Status != AttOnline || len(p.Periods) != 2 {
		t.Fatalf("rejoined: %+v", p)
	}
}

func TestAttendanceRegisterKeptBySecretary(t *testing.T) {
	f := newFixture(t)
	f.Clock.Set(fixtureStart)
	sec, chair := f.Inv["thuky"], f.Inv["chutich"]
	f.Must(f.P.MarkAttendance(f.Ctx, sec, f.Inv["uv2"].ID, AttAbsent, "Đi công tác huyện"))
	f.Must(f.P.MarkAttendance(f.Ctx, chair, f.Inv["pct1"].ID, AttInHall, ""))
	f.WantCode(f.P.MarkAttendance(f.Ctx, f.Inv["pct2"], f.Inv["uv1"].ID, AttInHall, ""), hub.EForbidden)
	f.WantCode(f.P.MarkAttendance(f.Ctx, sec, f.Inv["uv1"].ID, "sleeping", ""), hub.EInvalid)
	f.WantCode(f.P.MarkAttendance(f.Ctx, sec, f.Inv["uv1"].ID, AttInHall, "why"), hub.EInvalid)
	f.WantCode(f.P.MarkAttendance(f.Ctx, sec, 424242, AttInHall, ""), hub.EInvalid)
	st, err := f.P.State(f.Ctx, f.Meeting.ID)
	f.Must(err)
	if a := st.Attendance[f.Inv["uv2"].ID]; a.Status != AttAbsent || a.Reason != "Đi công tác huyện" {
		t.Fatalf("absent with reason: %+v", a)
	}
	if st.StatusOf(f.Inv["pct1"].ID) != AttInHall {
		t.Fatal("hall check-in not recorded")
	}
}

func TestSessionsOverTheLog(t *testing.T) {
	f := newFixture(t)
	f.StartFollower()
	f.Clock.Set(fixtureStart)
	chairS, err := f.P.Attach(f.Ctx, f.Inv["chutich"])
	f.Must(err)
	memberS, err := f.P.Attach(f.Ctx, f.Inv["pct1"])
	f.Must(err)
	second, err := f.P.Attach(f.Ctx, f.Inv["pct1"]) // a second tab
	f.Must(err)

	reply, err := chairS.Handle(f.Ctx, []byte(`{"type":"meeting.open","ref":"a1"}`))
	f.Must(err)
	if !strings.Contains(string(reply), `"type":"proc.ok"`) || !strings.Contains(string(reply), `"ref":"a1"`) {
		t.Fatalf("reply %s", reply)
	}
	reply, err = memberS.Handle(f.Ctx, []byte(`{"type":"meeting.close","ref":"m1"}`))
	if err != nil || !strings.Contains(string(reply), `"type":"proc.error"`) || !strings.Contains(string(reply), `"code":"forbidden"`) ||
		!strings.Contains(string(reply), `"ref":"m1"`) {
		t.Fatalf("member closing: %v %s", err, reply)
	}
	for _, bad := range []string{`{"type":"vote.cast"}`, `{"type":"nope"}`, `{"type":"hand.raise","x":1}`, `[1]`, `{`} {
		reply, err := memberS.Handle(f.Ctx, []byte(bad))
		if hub.ErrorCode(err) != hub.EInvalid || !strings.Contains(string(reply), `"code":"invalid"`) {
			t.Errorf("%s: %v %s", bad, err, reply)
		}
	}
	_, err = memberS.Handle(f.Ctx, []byte(`{"type":"hand.raise"}`))
	f.Must(err)

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
			f.Must(json.Unmarshal(fr, &m))
			if m.Type != "event" || m.Topic != LogTopic(f.Meeting.ID) || (last != 0 && m.Data.Seq != last+1) {
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
	second.Detach(f.Ctx, false)
	st, _ := f.P.State(f.Ctx, f.Meeting.ID)
	if st.StatusOf(f.Inv["pct1"].ID) != AttOnline {
		t.Fatalf("closing one tab of two: %s", st.StatusOf(f.Inv["pct1"].ID))
	}
	memberS.Detach(f.Ctx, false)
	memberS.Detach(f.Ctx, false) // twice is harmless
	st, _ = f.P.State(f.Ctx, f.Meeting.ID)
	if st.StatusOf(f.Inv["pct1"].ID) != AttReconnecting {
		t.Fatalf("dropped link: %s", st.StatusOf(f.Inv["pct1"].ID))
	}
	chairS.Detach(f.Ctx, true)
	st, _ = f.P.State(f.Ctx, f.Meeting.ID)
	if st.StatusOf(f.Inv["chutich"].ID) != AttLeft {
		t.Fatalf("clean leave: %s", st.StatusOf(f.Inv["chutich"].ID))
	}
	if _, err := chairS.Handle(f.Ctx, []byte(`{"type":"hand.raise"}`)); err != ErrSessionClosed {
		t.Fatalf("Handle after Detach: %v", err)
	}
}
