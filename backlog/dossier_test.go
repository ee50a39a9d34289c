package backlog

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
)

func rec(t *testing.T, f map[string]any) *PortalRecord {
	t.Helper()
	b, _ := json.Marshal(f)
	raw, err := jsonFields(b)
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseRecord(raw)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func build(t *testing.T, r *PortalRecord, old *Dossier, now time.Time) (*Dossier, error) {
	t.Helper()
	cal, _ := NewCalendar(nil)
	proc := &Procedure{ID: 1, Code: "1.001193", Name: "Khai sinh", Deadline: Deadline{3, "working_day"}, Version: 1}
	return buildDossier(buildInput{rec: r, old: old, proc: proc, unit: unitInfo{"03244", "Xã Sáng Nhè", "11"}, cal: cal, now: now})
}

func TestTransitions(t *testing.T) {
	for from := 1; from <= 10; from++ {
		for to := 1; to <= 10; to++ {
			err := checkTransition(from, to)
			allowed := from == to
			for _, a := range transitions[from] {
				allowed = allowed || a == to
			}
			if (err == nil) != allowed {
				t.Errorf("%d → %d: err %v, allowed %v", from, to, err, allowed)
			}
			if err != nil && hub.ErrorCode(err) != hub.EConflict {
				t.Errorf("%d → %d: code %s, want conflict", from, to, hub.ErrorCode(err))
			}
		}
	}
	for _, closed := range []int{3, 7, 8, 10} {
		if len(transitions[closed]) != 0 {
			t.Errorf("closed status %d can move", closed)
		}
	}
}

func TestObservedPausesAndCredit(t *testing.T) {
	base := map[string]any{"MaTTHC": "1.001193", "MaDVHC": "03244", "NgayTiepNhan": "20260310080000", "NgayHenTra": "20260313080000"}
	with := func(status int) map[string]any {
		m := map[string]any{"TrangThaiHoSo": status}
		for k, v := range base {
			m[k] = v
		}
		return m
	}
	t0 := vnt(2026, 3, 10, 9, 0)
	d1, err := build(t, rec(t, with(4)), nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	// 4 → 5 at 11 Mar 10:00: a pause starts; the clock stops.
	d2, _ := build(t, rec(t, with(5)), d1, vnt(2026, 3, 11, 10, 0))
	if d2.PausedSince == nil || !d2.PausedSince.Equal(vnt(2026, 3, 11, 10, 0)) || d2.SupplementCount != 1 {
		t.Fatalf("entering 5: %+v", d2.Pauses)
	}
	// The same body again keeps the pause start (idempotent).
	d2b, _ := build(t, rec(t, with(5)), d2, vnt(2026, 3, 11, 18, 0))
	if string(d2b.Fingerprint) != string(d2.Fingerprint) {
		t.Error("repeating status 5 changed the dossier")
	}
	// 5 → 4 at 12 Mar 16:00: 30 hours credited; deadline moves to 14 Mar 14:00.
	d3, _ := build(t, rec(t, with(4)), d2, vnt(2026, 3, 12, 16, 0))
	if d3.PausedSince != nil || d3.PauseCredit != 30*3600 || !d3.Deadline.Equal(vnt(2026, 3, 14, 14, 0)) {
		t.Fatalf("leaving 5: credit %d deadline %v", d3.PauseCredit, d3.Deadline)
	}
	// Finished 14 Mar 12:00: on time (before the moved deadline), same calendar day.
	f := with(9)
	f["NgayKetThucXuLy"] = "20260314120000"
	d4, _ := build(t, rec(t, f), d3, vnt(2026, 3, 14, 12, 0))
	if !dossierOnTime(d4) || finishClass(*d4.EndAt, *d4.Deadline) != 0 {
		t.Errorf("finish: on time %v class %d", dossierOnTime(d4), finishClass(*d4.EndAt, *d4.Deadline))
	}
	if got := processingSeconds(d4); got != (4*24+4)*3600-30*3600 {
		t.Errorf("processing seconds %d", got)
	}
	// 9 → 4 is refused.
	if _, err := build(t, rec(t, with(4)), d4, vnt(2026, 3, 15, 0, 0)); hub.ErrorCode(err) != hub.EConflict {
		t.Errorf("9 → 4: %v", err)
	}
}

func TestPortalPausesRules(t *testing.T) {
	f := map[string]any{"MaTTHC": "1.001193", "MaDVHC": "03244", "TrangThaiHoSo": 8, "NgayTiepNhan": "20260310080000",
		"NgayHenTra": "20260313080000", "NgayKetThucXuLy": "20260320080000",
		"DanhSachHoSoBoSung": []map[string]any{{"NgayBoSung": "20260312080000"}}}
	d, err := build(t, rec(t, f), nil, vnt(2026, 3, 20, 9, 0))
	if err != nil {
		t.Fatal(err)
	}
	// Stopped after an unanswered request: the end is the request, which was in time.
	if !d.EndAt.Equal(vnt(2026, 3, 12, 8, 0)) || !dossierOnTime(d) {
		t.Errorf("unanswered supplement: end %v on time %v", d.EndAt, dossierOnTime(d))
	}
	// Two requests: late whatever the times.
	f["DanhSachHoSoBoSung"] = []map[string]any{{"NgayBoSung": "20260311080000", "NgayTiepNhanBoSung": "20260311100000"}, {"NgayBoSung": "20260312080000"}}
	d, _ = build(t, rec(t, f), nil, vnt(2026, 3, 20, 9, 0))
	if d.SupplementCount != 2 || dossierOnTime(d) {
		t.Errorf("two supplements: count %d on time %v", d.SupplementCount, dossierOnTime(d))
	}
	// A pause whose new appointment date the portal already set is not credited again.
	f["TrangThaiHoSo"] = 4
	delete(f, "NgayKetThucXuLy")
	f["DanhSachHoSoBoSung"] = []map[string]any{{"NgayBoSung": "20260311080000", "NgayTiepNhanBoSung": "20260312080000",
		"NgayHenTraTruoc": "20260313080000", "NgayHenTraMoi": "20260314080000"}}
	d, _ = build(t, rec(t, f), nil, vnt(2026, 3, 12, 9, 0))
	if d.PauseCredit != 0 || !d.Deadline.Equal(*d.DueAt) {
		t.Errorf("moved appointment credited again: %d", d.PauseCredit)
	}
	// A request before the reception is refused.
	f["DanhSachHoSoBoSung"] = []map[string]any{{"NgayBoSung": "20260301080000"}}
	if _, err := build(t, rec(t, f), nil, vnt(2026, 3, 12, 9, 0)); err == nil || !strings.Contains(err.Error(), "NgayBoSung") {
		t.Errorf("request before reception: %v", err)
	}
}

func TestComputedDueIsStable(t *testing.T) {
	f := map[string]any{"MaTTHC": "1.001193", "MaDVHC": "03244", "TrangThaiHoSo": 2, "NgayTiepNhan": "20260313100000"} // Friday
	d, err := build(t, rec(t, f), nil, vnt(2026, 3, 13, 11, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !d.DueComputed || !d.DueAt.Equal(vnt(2026, 3, 18, 10, 0)) {
		t.Fatalf("computed due %v", d.DueAt)
	}
	// The same body later, with another calendar, keeps the first computation.
	cal, _ := NewCalendar([]Holiday{{Day: "2026-03-16", Name: "x"}})
	proc := &Procedure{ID: 1, Code: "1.001193", Name: "Khai sinh", Deadline: Deadline{3, "working_day"}}
	d2, _ := buildDossier(buildInput{rec: rec(t, f), old: d, proc: proc, unit: unitInfo{"03244", "", "11"}, cal: cal, now: vnt(2026, 3, 14, 0, 0)})
	if !d2.DueAt.Equal(*d.DueAt) || string(d2.Fingerprint) != string(d.Fingerprint) {
		t.Errorf("recomputed due %v", d2.DueAt)
	}
}

func TestClassifyOpen(t *testing.T) {
	dl := vnt(2026, 3, 16, 12, 0)
	soon := vnt(2026, 3, 18, 10, 0)
	early := vnt(2026, 3, 16, 9, 0)
	late := vnt(2026, 3, 16, 13, 0)
	cases := []struct {
		name   string
		paused *time.Time
		now    time.Time
		dl     time.Time
		want   OpenClass
	}{
		{"running, past", nil, late, dl, OpenOverdue},
		{"running, due within 2 days", nil, early, dl, OpenDueSoon},
		{"running, exactly at deadline", nil, dl, dl, OpenDueSoon},
		{"running, far", nil, early, vnt(2026, 3, 25, 0, 0), OpenWithin},
		{"paused in time", &early, late, dl, OpenWithin},
		{"paused after deadline", &late, late, dl, OpenOverdue},
	}
	for _, tc := range cases {
		if got := classifyOpen(tc.dl, tc.paused, tc.now, soon); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestParseRecordFields(t *testing.T) {
	r := rec(t, map[string]any{"MaTTHC": "1.001193", "MaDVHC": "03244", "TrangThaiHoSo": "9",
		"NgayTiepNhan": "20260310080000", "KenhThucHien": nil, "DuocThanhToanTrucTuyen": 2,
		"TaiLieuNop":           []map[string]any{{"TepDinhKemId": 17, "DuocSoHoa": 1, "DuocLayTuKhoDMQG": "1", "Extra": "ignored"}},
		"DanhSachLePhi":        []map[string]any{{"Gia": "15000"}, {"Gia": 5000.4}},
		"DanhSachGiayToKetQua": []map[string]any{{"DuongDanTepTinKetQua": "https://x"}},
		"Email":                "ignored@example.vn", "TaiKhoanDuocXacThucVoiVNeID": true})
	if r.Status != 9 || r.Channel != 1 || r.PaidOnline != 2 || !r.Digitized || !r.Reused || !r.PersonalStore ||
		r.FeeTotal != 20000 || !r.EResult || !r.VNeID {
		t.Errorf("%+v", r)
	}
}
