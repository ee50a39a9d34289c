package backlog

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// bodyOf encodes a dossier body; MaDVHC defaults to Sáng Nhè.
func bodyOf(t *testing.T, f map[string]any) []byte {
	t.Helper()
	if _, ok := f["MaDVHC"]; !ok {
		f["MaDVHC"] = "03244"
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func upsert(t *testing.T, s *Service, code string, f map[string]any) *UpsertResult {
	t.Helper()
	res, err := s.UpsertDossier(context.Background(), code, bodyOf(t, f), "test", "api")
	if err != nil {
		t.Fatalf("upsert %s: %v", code, err)
	}
	return res
}

func rate(num, den int64) Rate { return Rate{num, den} }

// mixedFixture loads the hand-computed fixture of docs/kpis.md ("a worked
// example"): procedures P1 (no fee, no paper result), P2 (fee, paper
// result), P3 (fee, no paper result), and dossiers A–L in Sáng Nhè.
func mixedFixture(t *testing.T, s *Service) {
	putProc(t, s, "1.000001", false, false, 3) // P1
	putProc(t, s, "1.000002", true, true, 5)   // P2
	putProc(t, s, "1.000003", true, false, 1)  // P3
	fee := func(v int) []map[string]any { return []map[string]any{{"TenPhiLePhi": "Lệ phí", "Gia": v}} }
	upsert(t, s, "A", map[string]any{"MaTTHC": "1.000001", "TrangThaiHoSo": 4, "NgayTiepNhan": "20260220090000", "NgayHenTra": "20260225090000", "KenhThucHien": 1})
	upsert(t, s, "B", map[string]any{"MaTTHC": "1.000001", "TrangThaiHoSo": 10, "NgayTiepNhan": "20260225100000", "NgayHenTra": "20260302100000",
		"NgayKetThucXuLy": "20260302080000", "NgayTra": "20260303090000", "KenhThucHien": 2})
	upsert(t, s, "C", map[string]any{"MaTTHC": "1.000002", "TrangThaiHoSo": 9, "NgayTiepNhan": "20260302080000", "NgayHenTra": "20260309080000",
		"NgayKetThucXuLy": "20260305150000", "KenhThucHien": 2, "DuongDanTepTinKetQua": "https://kq/C.pdf", "DanhSachLePhi": fee(50000),
		"DuocThanhToanTrucTuyen": 1, "TaiLieuNop": []map[string]any{{"TepDinhKemId": "f1", "DuongDanTaiTepTin": "https://f/1"}}, "NgayDongBo": "20260302081000"})
	upsert(t, s, "D", map[string]any{"MaTTHC": "1.000002", "TrangThaiHoSo": 9, "NgayTiepNhan": "20260303090000", "NgayHenTra": "20260310090000",
		"NgayKetThucXuLy": "20260312100000", "KenhThucHien": 2, "DanhSachLePhi": fee(50000), "DaSoHoaHoSo": 1,
		"NgayDongBo": "20260303091000", "KhongHaiLong": 1})
	upsert(t, s, "E", map[string]any{"MaTTHC": "1.000003", "TrangThaiHoSo": 10, "NgayTiepNhan": "20260309140000", "NgayHenTra": "20260310140000",
		"NgayKetThucXuLy": "20260311110000", "NgayTra": "20260311160000", "KenhThucHien": 1, "DanhSachLePhi": fee(20000),
		"DanhSachHoSoBoSung": []map[string]any{{"NgayBoSung": "20260310090000", "NgayTiepNhanBoSung": "20260311090000"}}})
	upsert(t, s, "F", map[string]any{"MaTTHC": "1.000001", "TrangThaiHoSo": 4, "NgayTiepNhan": "20260312080000", "NgayHenTra": "20260317080000",
		"KenhThucHien": 2, "NgayDongBo": "20260312081000", "DaSoHoaHoSo": true})
	upsert(t, s, "G", map[string]any{"MaTTHC": "1.000001", "TrangThaiHoSo": 2, "NgayTiepNhan": "20260313080000", "NgayHenTra": "20260320080000"})
	upsert(t, s, "H", map[string]any{"MaTTHC": "1.000001", "TrangThaiHoSo": 5, "NgayTiepNhan": "20260310080000", "NgayHenTra": "20260313080000",
		"DanhSachHoSoBoSung": []map[string]any{{"NgayBoSung": "20260311100000"}}})
	upsert(t, s, "I", map[string]any{"MaTTHC": "1.000001", "TrangThaiHoSo": 4, "NgayTiepNhan": "20260304080000", "NgayHenTra": "20260309080000",
		"DanhSachHoSoBoSung": []map[string]any{{"NgayBoSung": "20260305080000", "NgayTiepNhanBoSung": "20260306080000"},
			{"NgayBoSung": "20260309080000", "NgayTiepNhanBoSung": "20260310080000"}}})
	upsert(t, s, "J", map[string]any{"MaTTHC": "1.000003", "TrangThaiHoSo": 1, "KenhThucHien": 2})
	upsert(t, s, "K", map[string]any{"MaTTHC": "1.000003", "TrangThaiHoSo": 3, "NgayTiepNhan": "20260305080000"})
	upsert(t, s, "L", map[string]any{"MaTTHC": "1.000002", "TrangThaiHoSo": 7, "NgayTiepNhan": "20260305100000", "NgayHenTra": "20260312100000",
		"NgayKetThucXuLy": "20260306100000", "KenhThucHien": 2, "DanhSachLePhi": fee(50000), "NgayDongBo": "20260305101000"})
}

func checkDossierKPIs(t *testing.T, got, want DossierKPIs) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	var gm, wm map[string]any
	_ = json.Unmarshal(g, &gm)
	_ = json.Unmarshal(w, &wm)
	for k, wv := range wm {
		if fmt.Sprint(gm[k]) != fmt.Sprint(wv) {
			t.Errorf("%s = %v, want %v", k, gm[k], wv)
		}
	}
}

func TestKPIsHandComputedLive(t *testing.T) {
	clock := newClock(vnt(2026, 3, 16, 10, 0)) // Monday
	s, _ := newTestService(t, clock)
	mixedFixture(t, s)
	ctx := context.Background()
	p, err := ParsePeriod("2026-03-01", "2026-03-16", clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.KPIs(ctx, "03244", p)
	if err != nil {
		t.Fatal(err)
	}
	// Worked out in docs/kpis.md, "A worked example".
	want := DossierKPIs{
		Received: 8, CarriedOver: 2, ToProcess: 10,
		Open: 5, OpenOverdue: 2, OpenDueSoon: 1, OpenWithin: 2, OpenPaused: 1,
		Finished: 4, FinishedEarly: 1, FinishedOnTime: 2, FinishedLate: 1,
		OnTimeRate:               rate(7, 10),
		OnlineRate:               rate(2, 8),
		OnlineRateRaw:            rate(4, 8),
		DigitizationRate:         rate(2, 8),
		EResultRate:              rate(1, 2),
		PaidOnlineRate:           rate(1, 4),
		ProceduresPaidOnlineRate: rate(1, 2),
		AvgProcessingDays:        Average{435.0 / 24, 4},
		SyncRate:                 rate(4, 8),
		SatisfactionRate:         rate(3, 4),
	}
	checkDossierKPIs(t, k.Dossiers, want)
	if v := k.Dossiers.AvgProcessingDays; math.Abs(v.Num/float64(v.Den)-4.53125) > 1e-9 {
		t.Errorf("avg processing days = %v, want 4.53125", v.Num/float64(v.Den))
	}
	if pts := k.Points.Items["progress"].Points; pts == nil || *pts != 14 {
		t.Errorf("progress points = %v, want 14 (20 × 0.7)", pts)
	}
	if !k.Points.Estimate {
		t.Error("points are not labelled as an estimate")
	}
	// The province is the sum of its communes (only Sáng Nhè has data).
	pk, err := s.KPIs(ctx, "11", p)
	if err != nil {
		t.Fatal(err)
	}
	checkDossierKPIs(t, pk.Dossiers, want)
	if len(pk.Communes) != 45 {
		t.Errorf("province lists %d communes, want Điện Biên's 45", len(pk.Communes))
	}
	assertAggregatesMatchRebuild(t, s)
}

func TestKPIsHandComputedHistorical(t *testing.T) {
	clock := newClock(vnt(2026, 3, 16, 10, 0))
	s, _ := newTestService(t, clock)
	mixedFixture(t, s)
	p, _ := ParsePeriod("2026-03-01", "2026-03-10", clock.Now())
	k, err := s.KPIs(context.Background(), "03244", p)
	if err != nil {
		t.Fatal(err)
	}
	// Evaluated at the end of 10 March (docs/kpis.md, "A worked example").
	checkDossierKPIs(t, k.Dossiers, DossierKPIs{
		Received: 6, CarriedOver: 2, ToProcess: 8,
		Open: 5, OpenOverdue: 2, OpenDueSoon: 1, OpenWithin: 2, OpenPaused: 1,
		Finished: 2, FinishedEarly: 1, FinishedOnTime: 1, FinishedLate: 0,
		OnTimeRate: rate(5, 8), EResultRate: rate(1, 1), SatisfactionRate: rate(2, 2),
		OnlineRate: rate(1, 6), OnlineRateRaw: rate(3, 6), PaidOnlineRate: rate(1, 4), ProceduresPaidOnlineRate: rate(1, 2),
		DigitizationRate: rate(1, 6), SyncRate: rate(3, 6), AvgProcessingDays: Average{(118.0 + 79) / 24, 2},
	})
}

// TestArticleFixture reproduces the source article's figures: 108 dossiers
// in six months, all handled on time and submitted online; of the 78 with a
// fee, 43 were paid online (55.13 %).
func TestArticleFixture(t *testing.T) {
	clock := newClock(vnt(2026, 7, 15, 9, 0))
	s, _ := newTestService(t, clock)
	putProc(t, s, "1.001193", false, false, 3)
	putProc(t, s, "2.000908", true, false, 1)
	putProc(t, s, "1.000894", true, true, 5)
	var b strings.Builder
	for i := 0; i < 108; i++ {
		// Spread over 1 January – 30 June, received at 08:00 on a working
		// day, finished four hours later (early: before the deadline's day).
		rec := vnt(2026, 1, 5, 8, 0).AddDate(0, 0, (i*7)%175)
		for !s.cal.IsWorkingDay(rec) {
			rec = rec.AddDate(0, 0, 1)
		}
		proc, fee := "1.001193", 0
		switch {
		case i < 40:
			proc, fee = "2.000908", 20000
		case i < 78:
			proc, fee = "1.000894", 50000
		}
		paid := 0
		if i < 43 {
			paid = 1
		}
		row := map[string]any{"MaHoSo": fmt.Sprintf("ART-%03d", i), "MaTTHC": proc, "MaDVHC": "03244", "TrangThaiHoSo": 10,
			"KenhThucHien": 2, "NgayTiepNhan": FormatPortalTime(rec), "NgayKetThucXuLy": FormatPortalTime(rec.Add(4 * 60 * 60e9)),
			"NgayTra": FormatPortalTime(rec.Add(6 * 60 * 60e9)), "NgayDongBo": FormatPortalTime(rec.Add(60e9)),
			"DuongDanTepTinKetQua": "https://kq/" + fmt.Sprint(i), "DaSoHoaHoSo": 1, "DuocThanhToanTrucTuyen": paid}
		if fee > 0 {
			row["DanhSachLePhi"] = []map[string]any{{"Gia": fee}}
		}
		line, _ := json.Marshal(row)
		b.Write(line)
		b.WriteByte('\n')
	}
	rep, err := s.Import(context.Background(), strings.NewReader(b.String()), ImportOptions{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 108 || rep.Rejected != 0 || !rep.Committed {
		t.Fatalf("import report %+v", rep)
	}
	p, _ := ParsePeriod("2026-01-01", "2026-06-30", clock.Now())
	k, err := s.KPIs(context.Background(), "03244", p)
	if err != nil {
		t.Fatal(err)
	}
	checkDossierKPIs(t, k.Dossiers, DossierKPIs{
		Received: 108, CarriedOver: 0, ToProcess: 108, Finished: 108, FinishedEarly: 108,
		OnTimeRate: rate(108, 108), OnlineRate: rate(108, 108), OnlineRateRaw: rate(108, 108),
		DigitizationRate: rate(108, 108), EResultRate: rate(38, 38), PaidOnlineRate: rate(43, 78),
		ProceduresPaidOnlineRate: rate(2, 2), AvgProcessingDays: Average{108 * 4.0 / 24, 108}, SyncRate: rate(108, 108),
		SatisfactionRate: rate(108, 108),
	})
	if v := *k.Dossiers.PaidOnlineRate.Value(); math.Abs(v-0.5513) > 0.00005 {
		t.Errorf("paid online rate %.4f, want 0.5513 (55.13 %%)", v)
	}
}

// assertAggregatesMatchRebuild recomputes the aggregates from the stored
// rows in a rolled-back transaction and compares every table.
func assertAggregatesMatchRebuild(t *testing.T, s *Service) {
	t.Helper()
	ctx := context.Background()
	dump := func(q interface {
		Query(context.Context, string, ...any) (pgx.Rows, error)
	}) string {
		var b strings.Builder
		for _, tbl := range []string{"kpi_daily", "kpi_monthly", "kpi_fee_year"} {
			rows, err := q.Query(ctx, `SELECT * FROM `+tbl+` ORDER BY 1, 2, 3`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				vals, _ := rows.Values()
				first := 3 // unit, day, province, then counters
				if strings.HasPrefix(tbl, "kpi_fee") {
					first = 4 // unit, procedure, day or year, province
				}
				zero := true
				for _, v := range vals[first:] {
					if b, ok := v.([]byte); ok && strings.Trim(string(b), "\x00") != "" || !ok && fmt.Sprint(v) != "0" {
						zero = false
					}
				}
				if !zero {
					fmt.Fprintf(&b, "%s %v\n", tbl, vals)
				}
			}
			rows.Close()
		}
		return b.String()
	}
	maintained := dump(s.pool)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var units []string
	rows, _ := tx.Query(ctx, `SELECT DISTINCT unit_code FROM kpi_daily`)
	units, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if err := rebuildAggregates(ctx, tx, units, s.procs.snapshotFlags()); err != nil {
		t.Fatal(err)
	}
	if rebuilt := dump(tx); rebuilt != maintained {
		t.Errorf("maintained aggregates differ from a rebuild:\nmaintained:\n%s\nrebuilt:\n%s", maintained, rebuilt)
	}
}
