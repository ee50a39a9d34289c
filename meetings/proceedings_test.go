package meetings_test

import (
	"strings"
	"testing"
	"time"

	. "github.com/communehub/communehub/meetings"

	"github.com/communehub/communehub/hub"
)

func TestMeetingRunsEndToEnd(t *testing.T) {
	f := newFixture(t)
	f.Open()
	chair := f.Inv["chutich"]
	f.Must(f.P.OpenItem(f.Ctx, chair, f.Items[0].ID))
	f.Clock.Add(time.Minute)
	f.Must(f.P.RaiseHand(f.Ctx, f.Inv["pct1"]))
	f.Must(f.P.RaiseHand(f.Ctx, f.Inv["guest"]))
	f.Must(f.P.GiveFloor(f.Ctx, chair, f.Inv["pct1"].ID))
	f.Clock.Add(3*time.Minute + 20*time.Second)
	f.Must(f.P.GiveFloor(f.Ctx, chair, f.Inv["guest"].ID)) // ends pct1's speech
	f.Clock.Add(90 * time.Second)
	f.Must(f.P.EndFloor(f.Ctx, f.Inv["guest"]))
	id, err := f.P.OpenVote(f.Ctx, chair, VoteInput{Question: "Thông qua báo cáo kinh tế - xã hội tháng 11"})
	f.Must(err)
	for _, u := range []string{"chutich", "thuky", "pct1", "pct2"} {
		f.Must(f.P.CastVote(f.Ctx, f.Inv[u], id, ChoiceYes))
	}
	f.Must(f.P.CastVote(f.Ctx, f.Inv["uv1"], id, ChoiceNo))
	tally, err := f.P.CloseVote(f.Ctx, chair, id)
	f.Must(err)
	if !tally.Passed || tally.Yes != 4 || tally.No != 1 || tally.Seats != 6 || tally.Needed != 4 {
		t.Fatalf("tally %+v", tally)
	}
	f.Clock.Add(10 * time.Minute)
	f.Must(f.P.CloseMeeting(f.Ctx, chair))

	st, err := f.P.State(f.Ctx, f.Meeting.ID)
	f.Must(err)
	if st.Status != "closed" || len(st.Speeches) != 2 || st.Speeches[0].To.Sub(st.Speeches[0].From) != 200*time.Second {
		t.Fatalf("state after close: %+v speeches %+v", st, st.Speeches)
	}
	min, err := f.P.Minutes(f.Ctx, f.Meeting.ID)
	f.Must(err)
	if min.State != "draft" || !strings.Contains(min.Text, "THÔNG QUA") || !strings.Contains(min.Text, "Mùa A Dình (3 phút 20 giây") {
		t.Fatalf("draft minutes:\n%s", min.Text)
	}
	// The event log replays to the same state as the cache.
	evs, err := f.P.Events(f.Ctx, f.Meeting.ID, 0, 0)
	f.Must(err)
	replay := NewProcState(f.Meeting.ID)
	for _, ev := range evs {
		f.Must(replay.Apply(ev))
	}
	if replay.Seq != st.Seq || len(replay.Votes) != 1 || replay.Votes[0].Result.Yes != 4 {
		t.Fatalf("replay differs: %+v", replay)
	}

	secretary := f.Inv["thuky"]
	rev, err := f.P.SaveMinutes(f.Ctx, secretary, min.Revision, min.Text+"\nKết luận: thống nhất thông qua.\n")
	f.Must(err)
	_, err = f.P.ApproveMinutes(f.Ctx, chair, min.Revision) // a stale revision
	f.WantCode(err, hub.EConflict)
	signed, err := f.P.ApproveMinutes(f.Ctx, chair, rev)
	f.Must(err)
	v, err := f.P.VerifyMinutes(f.Ctx, signed)
	f.Must(err)
	if !v.Valid {
		t.Fatalf("verification: %+v", v)
	}
	_, err = f.P.SaveMinutes(f.Ctx, secretary, rev, "changed")
	f.WantCode(err, hub.EConflict)
	if _, err := f.Pool.Exec(f.Ctx, `UPDATE meeting_minutes SET text='x' WHERE meeting_id=$1`, f.Meeting.ID); err == nil {
		t.Fatal("the database let frozen minutes change")
	}
	if _, err := f.Pool.Exec(f.Ctx, `DELETE FROM meeting_events WHERE meeting_id=$1`, f.Meeting.ID); err == nil {
		t.Fatal("the database let the event log change")
	}
}

func TestOpenMeetingKeepsItsRules(t *testing.T) {
	f := newFixture(t)
	f.Open()
	in := MeetingInput{Unit: "03244", Title: f.Meeting.Title, StartsAt: f.Meeting.StartsAt, Seats: 9}
	_, err := f.P.UpdateMeeting(f.Ctx, f.Meeting.ID, in)
	f.WantCode(err, hub.EConflict)
	in.Seats = f.Meeting.Seats
	in.Title = "Phiên họp thường kỳ (bổ sung)"
	m, err := f.P.UpdateMeeting(f.Ctx, f.Meeting.ID, in)
	f.Must(err)
	if m.Title != in.Title || m.State != MeetingOpen {
		t.Fatalf("updated %+v", m)
	}
	f.WantCode(f.P.CancelMeeting(f.Ctx, f.Meeting.ID), hub.EConflict)
	f.WantCode(f.P.Uninvite(f.Ctx, f.Meeting.ID, f.Inv["uv2"].ID), hub.EConflict)
}
