package meetings_test

import (
	"bytes"
	"testing"

	. "github.com/communehub/communehub/meetings"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// TestDemoMeetingRunsEndToEnd: the meeting demo mode seeds can be held from
// start to signed minutes, and seeding twice does not make a second one.
func TestDemoMeetingRunsEndToEnd(t *testing.T) {
	hubtest.SkipShort(t, "the whole demo meeting")
	f := newFixture(t)
	f.Clock.Set(fixtureStart)
	auth := hub.NewAuth(f.Pool, hub.AuthConfig{}, nopLog())
	// Password hashing is slow under -race: only uyvien2 is created here.
	for _, u := range []string{"phochutich", "uyvien1"} {
		_, err := f.Pool.Exec(f.Ctx, `INSERT INTO users(username, role, password_hash) VALUES ($1,'officer','x')`, u)
		f.Must(err)
	}
	seed, err := f.P.SeedDemo(f.Ctx, auth, "03244")
	f.Must(err)
	if !seed.Created || seed.Password == "" || len(seed.Users) != 1 || seed.Users[0] != "uyvien2" {
		t.Fatalf("seed %+v", seed)
	}
	again, err := f.P.SeedDemo(f.Ctx, auth, "03244")
	f.Must(err)
	if again.Meeting != seed.Meeting || again.Password != "" || again.Created {
		t.Fatalf("second seed %+v", again)
	}
	if _, _, err := auth.Login(f.Ctx, "uyvien2", seed.Password); err != nil {
		t.Fatalf("a demo user cannot log in: %v", err)
	}
	inv, err := f.P.Invitees(f.Ctx, seed.Meeting)
	f.Must(err)
	by := map[string]*Invitee{}
	for _, v := range inv {
		by[v.Username] = v
	}
	agenda, err := f.P.Agenda(f.Ctx, seed.Meeting)
	f.Must(err)
	docs, err := f.P.Documents(f.Ctx, seed.Meeting)
	f.Must(err)
	if len(agenda) != 3 || len(docs) != 3 || *docs[0].Versions[0].Pages != 3 || len(inv) != 6 {
		t.Fatalf("seeded %d items, %d documents, %d invitees", len(agenda), len(docs), len(inv))
	}
	_, body, err := f.P.OpenVersion(f.Ctx, seed.Meeting, docs[0].ID, 0)
	f.Must(err)
	body.Close()

	chair := by["chutich"]
	for _, u := range []string{"chutich", "thuky", "phochutich", "uyvien1"} {
		f.Must(f.P.Join(f.Ctx, by[u], AttInHall))
	}
	f.Must(f.P.OpenMeeting(f.Ctx, chair))
	f.Must(f.P.OpenItem(f.Ctx, chair, agenda[0].ID))
	f.Must(f.P.ShowDoc(f.Ctx, chair, docs[0].ID, 0, 2))
	f.Must(f.P.RaiseHand(f.Ctx, by["phochutich"]))
	f.Must(f.P.GiveFloor(f.Ctx, chair, by["phochutich"].ID))
	f.Must(f.P.EndFloor(f.Ctx, by["phochutich"]))
	vote, err := f.P.OpenVote(f.Ctx, chair, VoteInput{Question: "Thông qua báo cáo tháng 11"})
	f.Must(err)
	for _, u := range []string{"chutich", "thuky", "phochutich", "uyvien1"} {
		f.Must(f.P.CastVote(f.Ctx, by[u], vote, ChoiceYes))
	}
	tally, err := f.P.CloseVote(f.Ctx, chair, vote)
	f.Must(err)
	if !tally.Passed {
		t.Fatalf("4 of 5 seats: %+v", tally)
	}
	f.Must(f.P.CloseMeeting(f.Ctx, chair))
	m, err := f.P.Minutes(f.Ctx, seed.Meeting)
	f.Must(err)
	signed, err := f.P.ApproveMinutes(f.Ctx, chair, m.Revision)
	f.Must(err)
	v, err := f.P.VerifyMinutes(f.Ctx, signed)
	f.Must(err)
	if !v.Valid || !bytes.Contains([]byte(signed.Text), []byte("THÔNG QUA")) {
		t.Fatalf("demo minutes: %+v", v)
	}
	// A closed demo meeting is replaced by a fresh one on the next start.
	next, err := f.P.SeedDemo(f.Ctx, auth, "03244")
	f.Must(err)
	if next.Meeting == seed.Meeting || next.Password != "" {
		t.Fatalf("after the demo meeting closed: %+v", next)
	}
}
