package meetings

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/communehub/communehub/hub/hubtest"
)

// benchMeeting is a fixture with 30 more members (36 seats), all present,
// the meeting open on its first item.
func benchMeeting(b *testing.B) *fixture {
	f := newFixture(b)
	for i := 0; i < 30; i++ {
		var id int64
		f.must(f.pool.QueryRow(f.ctx, `INSERT INTO users(username, role, password_hash) VALUES ($1,'viewer','x') RETURNING id`,
			fmt.Sprintf("tv%02d", i)).Scan(&id))
		inv, _, err := f.p.Invite(f.ctx, f.meeting.ID, InviteeInput{UserID: id, Name: fmt.Sprintf("Thành viên %d", i), Role: "member"})
		f.must(err)
		f.inv[fmt.Sprintf("tv%02d", i)] = inv
	}
	_, err := f.pool.Exec(f.ctx, `UPDATE meetings SET seats=36 WHERE id=$1`, f.meeting.ID)
	f.must(err)
	f.clock.Set(fixtureStart)
	for k, v := range f.inv {
		if k != "quansat" {
			f.must(f.p.Join(f.ctx, v, AttOnline))
		}
	}
	f.must(f.p.OpenMeeting(f.ctx, f.inv["chutich"]))
	f.must(f.p.OpenItem(f.ctx, f.inv["chutich"], f.items[0].ID))
	return f
}

// BenchmarkShowPage: the chair turns a page (the most frequent command):
// one transaction that appends the event and its outbox row.
func BenchmarkShowPage(b *testing.B) {
	f := benchMeeting(b)
	pdf := DemoPDF("x", 1000)
	doc, err := f.p.Upload(f.ctx, f.meeting.ID, UploadInput{Item: f.items[0].ID, Filename: "x.pdf"}, bytesReaderOf(pdf), int64(len(pdf)))
	f.must(err)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.must(f.p.ShowDoc(f.ctx, f.inv["chutich"], doc.ID, 0, i%1000+1))
	}
}

// BenchmarkVoteRound: 32 members present cast their ballots at once, then
// the chair closes the vote. One op is a whole vote.
func BenchmarkVoteRound(b *testing.B) {
	f := benchMeeting(b)
	var voters []*Invitee
	for k, v := range f.inv {
		if k != "quansat" && k != "guest" && v.Votes() {
			voters = append(voters, v)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id, err := f.p.OpenVote(f.ctx, f.inv["chutich"], VoteInput{Question: fmt.Sprintf("Biểu quyết %d", i), Secret: i%2 == 1})
		f.must(err)
		var wg sync.WaitGroup
		for j, v := range voters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := f.p.CastVote(f.ctx, v, id, []string{ChoiceYes, ChoiceNo, ChoiceAbstain}[j%3]); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		t, err := f.p.CloseVote(f.ctx, f.inv["chutich"], id)
		f.must(err)
		if t.Yes+t.No+t.Abstain != len(voters) {
			b.Fatalf("tally %+v", t)
		}
	}
	b.ReportMetric(float64(len(voters)), "ballots/op")
}

// BenchmarkReplay: rebuilding a meeting's state from a 5,000-event log
// (a long meeting; what an instance without the cache does once).
func BenchmarkReplay(b *testing.B) {
	in := fixedMinutesInput(b)
	evs := in.Events[:len(in.Events)-1] // all but the close
	for len(evs) < 5000 {
		last := evs[len(evs)-1]
		data, _ := json.Marshal(evDoc{Doc: 100, Version: 2, Page: len(evs)%12 + 1})
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
	in := fixedMinutesInput(b)
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
	f.startFollower()
	pdf := DemoPDF("x", 1000)
	doc, err := f.p.Upload(f.ctx, f.meeting.ID, UploadInput{Item: f.items[0].ID, Filename: "x.pdf"}, bytesReaderOf(pdf), int64(len(pdf)))
	f.must(err)
	s, err := f.p.Attach(f.ctx, f.inv["tv00"])
	f.must(err)
	defer s.Detach(f.ctx, true)
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
		f.must(f.p.ShowDoc(f.ctx, f.inv["chutich"], doc.ID, 0, i%1000+1))
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
