package meetings

import (
	"bytes"
	"testing"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// TestDemoMeetingRunsEndToEnd: the meeting demo mode seeds can be held from
// start to signed minutes, and seeding twice does not make a second one.
func TestDemoMeetingRunsEndToEnd(t *testing.T) {
	hubtest.SkipShort(t, "the whole demo meeting")
	f := newFixture(t)
	f.clock.Set(fixtureStart)
	auth := hub.NewAuth(f.pool, hub.AuthConfig{}, nopLog())
	// Password hashing is slow under -race: only uyvien2 is created here.
	for _, u := range []string{"phochutich", "uyvien1"} {
		_, err := f.pool.Exec(f.ctx, `INSERT INTO users(username, role, password_hash) VALUES ($1,'officer','x')`, u)
		f.must(err)
	}
	seed, err := f.p.SeedDemo(f.ctx, auth, "03244")
	f.must(err)
	if !seed.Created || seed.Password == "" || len(seed.Users) != 1 || seed.Users[0] != "uyvien2" {
		t.Fatalf("seed %+v", seed)
	}
	again, err := f.p.SeedDemo(f.ctx, auth, "03244")
	f.must(err)
	if again.Meeting != seed.Meeting || again.Password != "" || again.Created {
		t.Fatalf("second seed %+v", again)
	}
	if _, _, err := auth.Login(f.ctx, "uyvien2", seed.Password); err != nil {
		t.Fatalf("a demo user cannot log in: %v", err)
	}
	inv, err := f.p.Invitees(f.ctx, seed.Meeting)
	f.must(err)
	by := map[string]*Invitee{}
	for _, v := range inv {
		by[v.Username] = v
	}
	agenda, err := f.p.Agenda(f.ctx, seed.Meeting)
	f.must(err)
	docs, err := f.p.Documents(f.ctx, seed.Meeting)
	f.must(err)
	if len(agenda) != 3 || len(docs) != 3 || *docs[0].Versions[0].Pages != 3 || len(inv) != 6 {
		t.Fatalf("seeded %d items, %d documents, %d invitees", len(agenda), len(docs), len(inv))
	}
	_, body, err := f.p.openVersion(f.ctx, seed.Meeting, docs[0].ID, 0)
	f.must(err)
	body.Close()

	chair := by["chutich"]
	for _, u := range []string{"chutich", "thuky", "phochutich", "uyvien1"} {
		f.must(f.p.Join(f.ctx, by[u], AttInHall))
	}
	f.must(f.p.OpenMeeting(f.ctx, chair))
	f.must(f.p.OpenItem(f.ctx, chair, agenda[0].ID))
	f.must(f.p.ShowDoc(f.ctx, chair, docs[0].ID, 0, 2))
	f.must(f.p.RaiseHand(f.ctx, by["phochutich"]))
	f.must(f.p.GiveFloor(f.ctx, chair, by["phochutich"].ID))
	f.must(f.p.EndFloor(f.ctx, by["phochutich"]))
	vote, err := f.p.OpenVote(f.ctx, chair, VoteInput{Question: "Thông qua báo cáo tháng 11"})
	f.must(err)
	for _, u := range []string{"chutich", "thuky", "phochutich", "uyvien1"} {
		f.must(f.p.CastVote(f.ctx, by[u], vote, ChoiceYes))
	}
	tally, err := f.p.CloseVote(f.ctx, chair, vote)
	f.must(err)
	if !tally.Passed {
		t.Fatalf("4 of 5 seats: %+v", tally)
	}
	f.must(f.p.CloseMeeting(f.ctx, chair))
	m, err := f.p.Minutes(f.ctx, seed.Meeting)
	f.must(err)
	signed, err := f.p.ApproveMinutes(f.ctx, chair, m.Revision)
	f.must(err)
	v, err := f.p.VerifyMinutes(f.ctx, signed)
	f.must(err)
	if !v.Valid || !bytes.Contains([]byte(signed.Text), []byte("THÔNG QUA")) {
		t.Fatalf("demo minutes: %+v", v)
	}
	// A closed demo meeting is replaced by a fresh one on the next start.
	next, err := f.p.SeedDemo(f.ctx, auth, "03244")
	f.must(err)
	if next.Meeting == seed.Meeting || next.Password != "" {
		t.Fatalf("after the demo meeting closed: %+v", next)
	}
}
