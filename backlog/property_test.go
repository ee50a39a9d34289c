package backlog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/communehub/communehub/hub/hubtest"
)

// TestAggregatesFollowRandomWrites applies random upserts, imports,
// document moves and a procedure flag change, and checks after each
// round that the maintained aggregates equal a rebuild from the rows, and
// that the live open counts equal the per-dossier classification.
func TestAggregatesFollowRandomWrites(t *testing.T) {
	hubtest.SkipShort(t, "many random writes")
	clock := newClock(vnt(2026, 3, 2, 8, 0))
	s, _ := newTestService(t, clock)
	ctx := context.Background()
	putProc(t, s, "1.000001", false, false, 3)
	putProc(t, s, "1.000002", true, true, 5)
	putProc(t, s, "1.000003", true, false, 1)
	procs := []string{"1.000001", "1.000002", "1.000003"}
	units := []string{"03244", "03199", "03127"}
	rng := rand.New(rand.NewPCG(3, 766))
	state := map[string]map[string]any{}
	for round := 0; round < 6; round++ {
		for i := 0; i < 25; i++ {
			clock.Add(time.Duration(rng.IntN(240)) * time.Minute)
			now := clock.Now()
			code := fmt.Sprintf("R-%d", rng.IntN(40))
			b, ok := state[code]
			if !ok {
				b = map[string]any{"MaTTHC": procs[rng.IntN(3)], "MaDVHC": units[rng.IntN(3)], "TrangThaiHoSo": 2,
					"NgayTiepNhan": FormatPortalTime(now.Add(-time.Duration(rng.IntN(72)) * time.Hour)),
					"KenhThucHien": 1 + rng.IntN(3), "DanhSachLePhi": []map[string]any{{"Gia": rng.IntN(3) * 10000}}}
			} else {
				b = clone(b)
				st := b["TrangThaiHoSo"].(int)
				if next := transitions[st]; len(next) > 0 {
					to := next[rng.IntN(len(next))]
					b["TrangThaiHoSo"] = to
					if to == 9 || to == 10 {
						b["NgayKetThucXuLy"] = FormatPortalTime(now)
					}
				}
				if rng.IntN(4) == 0 {
					b["DuocThanhToanTrucTuyen"] = rng.IntN(3)
					b["DuongDanTepTinKetQua"] = []string{"", "x"}[rng.IntN(2)]
					b["DaSoHoaHoSo"] = rng.IntN(2)
				}
				if rng.IntN(10) == 0 {
					b["MaDVHC"] = units[rng.IntN(3)] // a corrected commune
				}
			}
			if _, err := s.UpsertDossier(ctx, code, bodyOf(t, b), "prop", "api"); err != nil {
				t.Fatalf("round %d %s %v: %v", round, code, b, err)
			}
			state[code] = b
			if rng.IntN(5) == 0 {
				d, err := s.RegisterIncoming(ctx, IncomingInput{Unit: units[rng.IntN(3)], Subject: "x",
					Urgency: []string{"thuong", "khan"}[rng.IntN(2)], Deadline: now.Add(time.Duration(rng.IntN(96)) * time.Hour).Format(time.RFC3339)}, "prop")
				if err != nil {
					t.Fatal(err)
				}
				clock.Add(time.Duration(rng.IntN(600)) * time.Minute)
				if _, err := s.PatchIncoming(ctx, d.ID, IncomingPatch{Status: []string{DocInProgress, DocDone, DocReturned}[rng.IntN(3)]}, "prop"); err != nil {
					t.Fatal(err)
				}
			}
		}
		if round == 3 { // the fee and paper-result flags of a procedure change: aggregates are rebuilt
			putProc(t, s, "1.000001", true, true, 3)
		}
		assertAggregatesMatchRebuild(t, s)
		assertOpenCountsMatchClassification(t, s)
	}
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func assertOpenCountsMatchClassification(t *testing.T, s *Service) {
	t.Helper()
	ctx := context.Background()
	k, err := s.KPIs(ctx, "11", WallPeriod(s.now()))
	if err != nil {
		t.Fatal(err)
	}
	list, _, err := s.ListDossiers(ctx, DossierFilter{Unit: "11", Class: "open", Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, d := range list {
		counts[s.view(d, s.now()).Class]++
	}
	got := fmt.Sprint(k.Dossiers.Open, k.Dossiers.OpenOverdue, k.Dossiers.OpenDueSoon, k.Dossiers.OpenWithin)
	want := fmt.Sprint(int64(len(list)), counts["overdue"], counts["due_soon"], counts["within"])
	if got != want {
		t.Errorf("open/overdue/due soon/within from SQL %s, from classification %s", got, want)
	}
	for _, class := range []string{"overdue", "due_soon", "within"} {
		l, _, _ := s.ListDossiers(ctx, DossierFilter{Unit: "11", Class: class, Limit: 500})
		if int64(len(l)) != counts[class] {
			t.Errorf("list class=%s has %d, classification %d", class, len(l), counts[class])
		}
	}
}
