package meetings_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	. "github.com/communehub/communehub/meetings"

	"github.com/communehub/communehub/hub"
)

// recordState is a fingerprint of everything a vote command could change.
func (f *fixture) recordState() string {
	f.T.Helper()
	var s string
	err := f.Pool.QueryRow(f.Ctx, `SELECT concat_ws('|',
		(SELECT count(*) FROM meeting_events), (SELECT max(seq) FROM meeting_events),
		(SELECT string_agg(concat_ws(',', id, state, yes, no, abstain, passed, present), ';' ORDER BY id) FROM votes),
		(SELECT string_agg(concat_ws(',', vote_id, invitee_id), ';' ORDER BY vote_id, invitee_id) FROM vote_voters),
		(SELECT string_agg(concat_ws(',', vote_id, invitee_id, choice), ';' ORDER BY vote_id, invitee_id) FROM vote_ballots),
		(SELECT count(*) FROM outbox))`).Scan(&s)
	if err != nil {
		f.T.Fatal(err)
	}
	return s
}

func TestVoteBadInputChangesNothing(t *testing.T) {
	f := newFixture(t)
	f.Open()
	chair := f.Inv["chutich"]
	f.Must(f.P.OpenItem(f.Ctx, chair, f.Items[1].ID))
	id, err := f.P.OpenVote(f.Ctx, chair, VoteInput{Question: "Thông qua kế hoạch sửa đường"})
	f.Must(err)
	f.Must(f.P.CastVote(f.Ctx, f.Inv["pct1"], id, ChoiceYes))

	stranger := &Invitee{ID: 999999, MeetingID: f.Meeting.ID, Role: RoleMember}
	bad := []struct {
		name string
		code string
		do   func() error
	}{
		{"double vote", hub.EConflict, func() error { return f.P.CastVote(f.Ctx, f.Inv["pct1"], id, ChoiceNo) }},
		{"guest votes", hub.EForbidden, func() error { return f.P.CastVote(f.Ctx, f.Inv["guest"], id, ChoiceYes) }},
		{"observer votes", hub.EForbidden, func() error { return f.P.CastVote(f.Ctx, f.Inv["quansat"], id, ChoiceYes) }},
		{"absent member votes", hub.EForbidden, func() error { return f.P.CastVote(f.Ctx, f.Inv["uv2"], id, ChoiceYes) }},
		{"non-invitee votes", hub.EForbidden, func() error { return f.P.CastVote(f.Ctx, stranger, id, ChoiceYes) }},
		{"unknown choice", hub.EInvalid, func() error { return f.P.CastVote(f.Ctx, f.Inv["pct2"], id, "maybe") }},
		{"unknown vote", hub.EInvalid, func() error { return f.P.CastVote(f.Ctx, f.Inv["pct2"], id+100, ChoiceYes) }},
		{"member opens a vote", hub.EForbidden, func() error {
			_, err := f.P.OpenVote(f.Ctx, f.Inv["pct2"], VoteInput{Question: "x"})
			return err
		}},
		{"secretary closes the vote", hub.EForbidden, func() error { _, err := f.P.CloseVote(f.Ctx, f.Inv["thuky"], id); return err }},
		{"second open vote", hub.EConflict, func() error {
			_, err := f.P.OpenVote(f.Ctx, chair, VoteInput{Question: "y"})
			return err
		}},
		{"empty question", hub.EInvalid, func() error { _, err := f.P.OpenVote(f.Ctx, chair, VoteInput{Question: "  "}); return err }},
		{"unknown rule", hub.EInvalid, func() error {
			_, err := f.P.OpenVote(f.Ctx, chair, VoteInput{Question: "z", Rule: "most"})
			return err
		}},
		{"moving on with a vote open", hub.EConflict, func() error { return f.P.OpenItem(f.Ctx, chair, f.Items[2].ID) }},
		{"closing the meeting with a vote open", hub.EConflict, func() error { return f.P.CloseMeeting(f.Ctx, chair) }},
	}
	for _, b := range bad {
		before := f.recordState()
		err := b.do()
		if hub.ErrorCode(err) != b.code {
			t.Errorf("%s: got %v, want a %s error", b.name, err, b.code)
		}
		if after := f.recordState(); after != before {
			t.Errorf("%s changed the record:\n before %s\n after  %s", b.name, before, after)
		}
	}

	tally, err := f.P.CloseVote(f.Ctx, chair, id)
	f.Must(err)
	if tally.Yes != 1 || tally.Passed {
		t.Fatalf("tally %+v", tally)
	}
	before := f.recordState()
	err = f.P.CastVote(f.Ctx, f.Inv["pct2"], id, ChoiceYes)
	f.WantCode(err, hub.EConflict)
	if !strings.Contains(err.Error(), "closed") {
		t.Errorf("vote after closing: %v", err)
	}
	_, err = f.P.CloseVote(f.Ctx, chair, id)
	f.WantCode(err, hub.EConflict)
	if after := f.recordState(); after != before {
		t.Errorf("voting after closing changed the record:\n before %s\n after  %s", before, after)
	}
}

func TestVoteNeedsQuorum(t *testing.T) {
	f := newFixture(t)
	f.Clock.Set(fixtureStart)
	for _, u := range []string{"chutich", "thuky", "pct1"} { // 3 of 6 seats: under two thirds
		f.Must(f.P.Join(f.Ctx, f.Inv[u], AttOnline))
	}
	f.Must(f.P.OpenMeeting(f.Ctx, f.Inv["chutich"]))
	before := f.recordState()
	_, err := f.P.OpenVote(f.Ctx, f.Inv["chutich"], VoteInput{Question: "x"})
	f.WantCode(err, hub.EUnprocessable)
	if after := f.recordState(); after != before {
		t.Errorf("a refused vote changed the record")
	}
	f.Must(f.P.MarkAttendance(f.Ctx, f.Inv["thuky"], f.Inv["pct2"].ID, AttInHall, ""))
	if _, err := f.P.OpenVote(f.Ctx, f.Inv["chutich"], VoteInput{Question: "x"}); err != nil {
		t.Fatalf("4 of 6 present: %v", err)
	}
}

// TestOneVotePerMemberUnderConcurrency: every member sends many ballots at
// once; each is counted exactly once and the rest are refused.
func TestOneVotePerMemberUnderConcurrency(t *testing.T) {
	for _, secret := range []bool{false, true} {
		t.Run(fmt.Sprintf("secret=%v", secret), func(t *testing.T) {
			f := newFixture(t)
			f.Open()
			chair := f.Inv["chutich"]
			id, err := f.P.OpenVote(f.Ctx, chair, VoteInput{Question: "Phân bổ kinh phí", Secret: secret})
			f.Must(err)
			voters := []string{"chutich", "thuky", "pct1", "pct2", "uv1"}
			const tries = 8
			var wg sync.WaitGroup
			var mu sync.Mutex
			ok := map[string]int{}
			for _, u := range voters {
				for i := 0; i < tries; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						choice := []string{ChoiceYes, ChoiceNo, ChoiceAbstain}[i%3]
						err := f.P.CastVote(f.Ctx, f.Inv[u], id, choice)
						mu.Lock()
						defer mu.Unlock()
						switch {
						case err == nil:
							ok[u]++
						case hub.ErrorCode(err) != hub.EConflict:
							t.Errorf("%s: %v", u, err)
						}
					}()
				}
			}
			wg.Wait()
			for _, u := range voters {
				if ok[u] != 1 {
					t.Errorf("%s had %d ballots accepted, want 1", u, ok[u])
				}
			}
			tally, err := f.P.CloseVote(f.Ctx, chair, id)
			f.Must(err)
			if n := tally.Yes + tally.No + tally.Abstain; n != len(voters) {
				t.Fatalf("tally counts %d ballots, want %d: %+v", n, len(voters), tally)
			}
			if n := f.Count(`SELECT count(*) FROM vote_voters WHERE vote_id=$1`, id); n != len(voters) {
				t.Fatalf("voted-set has %d entries", n)
			}
		})
	}
}

// TestSecretBallotUnlinkable: after a secret vote closes, nothing the
// database holds links a voter to a choice — no ballot rows, no choice in
// the log or the outbox, only tallies and a voted-set without times.
func TestSecretBallotUnlinkable(t *testing.T) {
	f := newFixture(t)
	f.Open()
	chair := f.Inv["chutich"]
	id, err := f.P.OpenVote(f.Ctx, chair, VoteInput{Question: "Bầu trưởng ban", Secret: true})
	f.Must(err)
	choices := map[string]string{"pct1": ChoiceYes, "pct2": ChoiceNo, "uv1": ChoiceAbstain, "thuky": ChoiceYes}
	for _, u := range []string{"pct1", "pct2", "uv1", "thuky"} {
		f.Must(f.P.CastVote(f.Ctx, f.Inv[u], id, choices[u]))
		// While the vote is open nobody sees running tallies of a secret vote.
		vs, err := f.P.Votes(f.Ctx, f.Meeting.ID)
		f.Must(err)
		if vs[0].Result != nil {
			t.Fatalf("open secret vote shows a result: %+v", vs[0].Result)
		}
		st, err := f.P.State(f.Ctx, f.Meeting.ID)
		f.Must(err)
		if st.Votes[0].Ballots != nil {
			t.Fatalf("state holds secret ballots: %v", st.Votes[0].Ballots)
		}
	}
	tally, err := f.P.CloseVote(f.Ctx, chair, id)
	f.Must(err)
	if tally.Yes != 2 || tally.No != 1 || tally.Abstain != 1 {
		t.Fatalf("tally %+v", tally)
	}

	if n := f.Count(`SELECT count(*) FROM vote_ballots WHERE vote_id=$1`, id); n != 0 {
		t.Fatalf("%d ballot rows for a secret vote", n)
	}
	// The voted-set has no column but the ids.
	var cols string
	f.Must(f.Pool.QueryRow(f.Ctx, `SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns
		WHERE table_name='vote_voters'`).Scan(&cols))
	if cols != "vote_id,invitee_id" {
		t.Fatalf("vote_voters has columns %s", cols)
	}
	// No row of any table that names a voter also carries a choice.
	rows, err := f.Pool.Query(f.Ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema='public' AND table_type='BASE TABLE'`)
	f.Must(err)
	var tables []string
	for rows.Next() {
		var n string
		f.Must(rows.Scan(&n))
		tables = append(tables, n)
	}
	rows.Close()
	choiceWords := []string{`"choice"`, `"yes"`, `"no"`, `"abstain"`, `:"yes`, `:"no`, `:"abstain`}
	for _, tbl := range tables {
		rs, err := f.Pool.Query(f.Ctx, `SELECT row_to_json(t)::text FROM `+tbl+` t`)
		f.Must(err)
		for rs.Next() {
			var row string
			f.Must(rs.Scan(&row))
			if !strings.Contains(row, fmt.Sprintf(`"vote": %d`, id)) && !strings.Contains(row, fmt.Sprintf(`"vote":%d`, id)) &&
				!strings.Contains(row, fmt.Sprintf(`"vote_id":%d`, id)) {
				continue
			}
			for _, u := range []string{"pct1", "pct2", "uv1", "thuky"} {
				named := strings.Contains(row, fmt.Sprintf(`"invitee":%d`, f.Inv[u].ID)) || strings.Contains(row, fmt.Sprintf(`"invitee_id":%d`, f.Inv[u].ID)) ||
					strings.Contains(row, fmt.Sprintf(`"invitee": %d`, f.Inv[u].ID))
				if !named {
					continue
				}
				for _, w := range choiceWords {
					if strings.Contains(row, w) {
						t.Errorf("table %s links voter %s to a choice: %s", tbl, u, row)
					}
				}
			}
		}
		rs.Close()
	}
	// Replaying the log gives the result without any ballot.
	st, err := f.P.State(f.Ctx, f.Meeting.ID)
	f.Must(err)
	v := st.Votes[0]
	if v.Result == nil || v.Result.Yes != 2 || len(v.Voters) != 4 || v.Ballots != nil {
		t.Fatalf("replayed vote %+v", v)
	}
}

// TestTwoInstancesShareOneMeeting: two hub instances on one database run
// commands on the same meeting; each sees the other's events, and ballots
// sent to both at once are each counted once.
func TestTwoInstancesShareOneMeeting(t *testing.T) {
	f := newFixture(t)
	p2 := f.StartProceedings(ProceedingsConfig{DataDir: t.TempDir(), Instance: "second"}, testCore(f.Pool))
	f.Open()
	chair := f.Inv["chutich"]
	f.Must(p2.OpenItem(f.Ctx, chair, f.Items[2].ID)) // instance 2 moves on; instance 1 has a cached state
	id, err := f.P.OpenVote(f.Ctx, chair, VoteInput{Question: "Kinh phí chống rét"})
	f.Must(err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for i, u := range []string{"chutich", "thuky", "pct1", "pct2", "uv1"} {
		for _, p := range []*Proceedings{f.P, p2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := p.CastVote(f.Ctx, f.Inv[u], id, []string{ChoiceYes, ChoiceNo}[i%2])
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					accepted++
				case hub.ErrorCode(err) != hub.EConflict:
					t.Errorf("%s: %v", u, err)
				}
			}()
		}
	}
	wg.Wait()
	tally, err := p2.CloseVote(f.Ctx, chair, id)
	f.Must(err)
	if accepted != 5 || tally.Yes != 3 || tally.No != 2 {
		t.Fatalf("accepted %d, tally %+v", accepted, tally)
	}
	s1, err := f.P.State(f.Ctx, f.Meeting.ID)
	f.Must(err)
	s2, err := p2.State(f.Ctx, f.Meeting.ID)
	f.Must(err)
	if s1.Seq != s2.Seq || s1.CurrentItem != f.Items[2].ID || s1.Votes[0].Result == nil || s2.Votes[0].Result.Yes != 3 {
		t.Fatalf("instances disagree: seq %d/%d item %d", s1.Seq, s2.Seq, s1.CurrentItem)
	}
	// The second instance signs with its own key; the first verifies it.
	f.Must(p2.CloseMeeting(f.Ctx, chair))
	m, err := f.P.Minutes(f.Ctx, f.Meeting.ID)
	f.Must(err)
	signed, err := p2.ApproveMinutes(f.Ctx, chair, m.Revision)
	f.Must(err)
	v, err := f.P.VerifyMinutes(f.Ctx, signed)
	f.Must(err)
	if !v.Valid || signed.KeyID == f.P.Signer().KeyID() {
		t.Fatalf("cross-instance verification: %+v (key %s)", v, signed.KeyID)
	}
}
