package meetings

import (
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
)

func TestMeetingRunsEndToEnd(t *testing.T) {
	f := newFixture(t)
	f.open()
	chair := f.inv["chutich"]
	f.must(f.p.OpenItem(f.ctx, chair, f.items[0].ID))
	f.clock.Add(time.Minute)
	f.must(f.p.RaiseHand(f.ctx, f.inv["pct1"]))
	f.must(f.p.RaiseHand(f.ctx, f.inv["guest"]))
	f.must(f.p.GiveFloor(f.ctx, chair, f.inv["pct1"].ID))
	f.clock.Add(3*time.Minute + 20*time.Second)
	f.must(f.p.GiveFloor(f.ctx, chair, f.inv["guest"].ID)) // ends pct1's speech
	f.clock.Add(90 * time.Second)
	f.must(f.p.EndFloor(f.ctx, f.inv["guest"]))
	id, err := f.p.OpenVote(f.ctx, chair, VoteInput{Question: "Thông qua báo cáo kinh tế - xã hội tháng 11"})
	f.must(err)
	for _, u := range []string{"chutich", "thuky", "pct1", "pct2"} {
		f.must(f.p.CastVote(f.ctx, f.inv[u], id, ChoiceYes))
	}
	f.must(f.p.CastVote(f.ctx, f.inv["uv1"], id, ChoiceNo))
	tally, err := f.p.CloseVote(f.ctx, chair, id)
	f.must(err)
	if !tally.Passed || tally.Yes != 4 || tally.No != 1 || tally.Seats != 6 || tally.Needed != 4 {
		t.Fatalf("tally %+v", tally)
	}
	f.clock.Add(10 * time.Minute)
	f.must(f.p.CloseMeeting(f.ctx, chair))

	st, err := f.p.State(f.ctx, f.meeting.ID)
	f.must(err)
	if st.Status != "closed" || len(st.Speeches) != 2 || st.Speeches[0].To.Sub(st.Speeches[0].From) != 200*time.Second {
		t.Fatalf("state after close: %+v speeches %+v", st, st.Speeches)
	}
	min, err := f.p.Minutes(f.ctx, f.meeting.ID)
	f.must(err)
	if min.State != "draft" || !strings.Contains(min.Text, "THÔNG QUA") || !strings.Contains(min.Text, "Mùa A Dình (3 phút 20 giây") {
		t.Fatalf("draft minutes:\n%s", min.Text)
	}
	// The event log replays to the same state as the cache.
	evs, err := f.p.Events(f.ctx, f.meeting.ID, 0, 0)
	f.must(err)
	replay := NewProcState(f.meeting.ID)
	for _, ev := range evs {
		f.must(replay.Apply(ev))
	}
	if replay.Seq != st.Seq || len(replay.Votes) != 1 || replay.Votes[0].Result.Yes != 4 {
		t.Fatalf("replay differs: %+v", replay)
	}

	secretary := f.inv["thuky"]
	rev, err := f.p.SaveMinutes(f.ctx, secretary, min.Revision, min.Text+"\nKết luận: thống nhất thông qua.\n")
	f.must(err)
	_, err = f.p.ApproveMinutes(f.ctx, chair, min.Revision) // a stale revision
	f.wantCode(err, hub.EConflict)
	signed, err := f.p.ApproveMinutes(f.ctx, chair, rev)
	f.must(err)
	v, err := f.p.VerifyMinutes(f.ctx, signed)
	f.must(err)
	if !v.Valid {
		t.Fatalf("verification: %+v", v)
	}
	_, err = f.p.SaveMinutes(f.ctx, secretary, rev, "changed")
	f.wantCode(err, hub.EConflict)
	if _, err := f.pool.Exec(f.ctx, `UPDATE meeting_minutes SET text='x' WHERE meeting_id=$1`, f.meeting.ID); err == nil {
		t.Fatal("the database let frozen minutes change")
	}
	if _, err := f.pool.Exec(f.ctx, `DELETE FROM meeting_events WHERE meeting_id=$1`, f.meeting.ID); err == nil {
		t.Fatal("the database let the event log change")
	}
}

func TestOpenMeetingKeepsItsRules(t *testing.T) {
	f := newFixture(t)
	f.open()
	in := MeetingInput{Unit: "03244", Title: f.meeting.Title, StartsAt: f.meeting.StartsAt, Seats: 9}
	_, err := f.p.UpdateMeeting(f.ctx, f.meeting.ID, in)
	f.wantCode(err, hub.EConflict)
	in.Seats = f.meeting.Seats
	in.Title = "Phiên họp thường kỳ (bổ sung)"
	m, err := f.p.UpdateMeeting(f.ctx, f.meeting.ID, in)
	f.must(err)
	if m.Title != in.Title || m.State != MeetingOpen {
		t.Fatalf("updated %+v", m)
	}
	f.wantCode(f.p.CancelMeeting(f.ctx, f.meeting.ID), hub.EConflict)
	f.wantCode(f.p.Uninvite(f.ctx, f.meeting.ID, f.inv["uv2"].ID), hub.EConflict)
}
