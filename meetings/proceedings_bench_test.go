package meetings_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	. "github.com/communehub/communehub/meetings"

	"github.com/communehub/communehub/hub/hubtest"
)

// benchMeeting is a fixture with 30 more members (36 seats), all present,
// the meeting open on its first item.
func benchMeeting(b *testing.B) *fixture {
	f := newFixture(b)
	for i := 0; i < 30; i++ {
		var id int64
		f.Must(f.Pool.QueryRow(f.Ctx, `INSERT INTO users(username, role, password_hash) VALUES ($1,'viewer','x') RETURNING id`,
			fmt.Sprintf("tv%02d", i)).Scan(&id))
		inv, _, err := f.P.Invite(f.Ctx, f.Meeting.ID, InviteeInput{UserID: id, Name: fmt.Sprintf("Thành viên %d", i), Role: "member"})
		f.Must(err)
		f.Inv[fmt.Sprintf("tv%02d", i)] = inv
	}
	_, err := f.Pool.Exec(f.Ctx, `UPDATE meetings SET seats=36 WHERE id=$1`, f.Meeting.ID)
	f.Must(err)
	f.Clock.Set(fixtureStart)
	for k, v := range f.Inv {
		if k != "quansat" {
			f.Must(f.P.Join(f.Ctx, v, AttOnline))
		}
	}
	f.Must(f.P.OpenMeeting(f.Ctx, f.Inv["chutich"]))
	f.Must(f.P.OpenItem(f.Ctx, f.Inv["chutich"], f.Items[0].ID))
	return f
}

// BenchmarkShowPage: the chair turns a page (the most frequent command):
// one transaction that appends the event and its outbox row.
func BenchmarkShowPage(b *testing.B) {
	f := benchMeeting(b)
	pdf := DemoPDF("x", 1000)
	doc, err := f.P.Upload(f.Ctx, f.Meeting.ID, UploadInput{Item: f.Items[0].ID, Filename: "x.pdf"}, bytesReaderOf(pdf), int64(len(pdf)))
	f.Must(err)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.Must(f.P.ShowDoc(f.Ctx, f.Inv["chutich"], doc.ID, 0, i%1000+1))
	}
}

// BenchmarkVoteRound: 32 members present cast their ballots at once, then
// the chair closes the vote. One op is a whole vote.
func BenchmarkVoteRound(b *testing.B) {
	f := benchMeeting(b)
	var voters []*Invitee
	for k, v := range f.Inv {
		if k != "quansat" && k != "guest" && v.Votes() {
			voters = append(voters, v)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id, err := f.P.OpenVote(f.Ctx, f.Inv["chutich"], VoteInput{Question: fmt.Sprintf("Biểu quyết %d", i), Secret: i%2 == 1})
		f.Must(err)
		var wg sync.WaitGroup
		for j, v := range voters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := f.P.CastVote(f.Ctx, v, id, []string{ChoiceYes, ChoiceNo, ChoiceAbstain}[j%3]); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		t, err := f.P.CloseVote(f.Ctx, f.Inv["chutich"], id)
		f.Must(err)
		if t.Yes+t.No+t.Abstain != len(voters) {
			b.Fatalf("tally %+v", t)
		}
	}
	b.ReportMetric(float64(len(voters)), "ballots/op")
}

// BenchmarkReplay: rebuilding a meeting's state from a 5,000-event log
// (a long meeting; what an instance without the cache does once).
func BenchmarkReplay(b *testing.B) {
	in := FixedMinutesInput(b)
	evs := in.Events[:len(in.Events)-1] // all but the close
	for len(evs) < 5000 {
		last := evs[len(evs)-1]
		data, _ := json.Marshal(EvDoc{Doc: 100, Version: 2, Page: len(evs)%12 + 1})
		evs = append(evs, ProcEvent{Seq: last.Seq + 1, At: last.At.Add(time.Second), Kind: EvDocShown, Actor: 1, Data: data})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st := NewProcState(42)
		for _, ev := range evs {
			if err := st.Apply(ev); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(evs)), "events/op")
}

func BenchmarkDraftMinutes(b *testing.B) {
	in := FixedMinutesInput(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := DraftMinutes(in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFollowLatency: from the chair's page turn to the frame in a
// participant's session queue (command transaction, outbox, NOTIFY,
// follower, bus), and the frame's size on the wire.
func BenchmarkFollowLatency(b *testing.B) {
	f := benchMeeting(b)
	f.StartFollower()
	pdf := DemoPDF("x", 1000)
	doc, err := f.P.Upload(f.Ctx, f.Meeting.ID, UploadInput{Item: f.Items[0].ID, Filename: "x.pdf"}, bytesReaderOf(pdf), int64(len(pdf)))
	f.Must(err)
	s, err := f.P.Attach(f.Ctx, f.Inv["tv00"])
	f.Must(err)
	defer s.Detach(f.Ctx, true)
	drain := func(until time.Duration) {
		deadline := time.After(until)
		for {
			select {
			case <-s.Ready():
				s.Frames()
			case <-deadline:
				return
			}
		}
	}
	drain(hubtest.Timeout(300 * time.Millisecond))
	lat := make([]time.Duration, 0, b.N)
	size := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		f.Must(f.P.ShowDoc(f.Ctx, f.Inv["chutich"], doc.ID, 0, i%1000+1))
	wait:
		for {
			select {
			case <-s.Ready():
				for _, fr := range s.Frames() {
					var m struct{ Data ProcEvent }
					if json.Unmarshal(fr, &m) == nil && m.Data.Kind == EvDocShown {
						size = len(fr)
						break wait
					}
				}
			case <-time.After(hubtest.Timeout(5 * time.Second)):
				b.Fatal("no frame within 5 s")
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(size), "frame-bytes")
}
