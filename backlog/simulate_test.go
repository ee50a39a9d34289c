package backlog

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// The demo simulator moves only its own records: an overdue dossier and an
// incoming document a user made are untouched after many steps, while the
// demo's own dossier is moved along.
func TestSimulatorLeavesUserRecordsAlone(t *testing.T) {
	s, _ := newTestService(t, newClock(vnt(2026, 3, 16, 10, 0)))
	ctx := context.Background()
	for _, p := range demoProcedures {
		putProc(t, s, p.code, p.fee, p.paper, p.days)
	}
	body := func(code string) []byte {
		b, err := jsonMarshal(map[string]any{"MaHoSo": code, "MaTTHC": "1.001193", "MaDVHC": "03244", "TrangThaiHoSo": 2,
			"NgayTiepNhan": "20260302080000", "NgayHenTra": "20260305080000", "ChuHoSo": "Lò Văn A"})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const user, demo = "000.00.44.H17-260302-0001", "000.00.44.H17-260302-9001"
	if _, err := s.UpsertDossier(ctx, user, body(user), "officer1", "web"); err != nil {
		t.Fatal(err)
	}
	sim := s.NewSimulator([]string{"03244"}, time.Minute)
	if err := sim.push(ctx, demo, jsonMustMap(t, body(demo))); err != nil {
		t.Fatal(err)
	}
	doc, err := s.RegisterIncoming(ctx, IncomingInput{Unit: "03244", Subject: "V/v báo cáo của người dùng"}, "officer1")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 150; i++ {
		if err := sim.Step(ctx); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	d, err := s.Dossier(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != StatusReceived || d.State() != 1 {
		t.Errorf("the user's dossier was moved: status %d state %d", d.Status, d.State())
	}
	if h, err := s.History(ctx, user); err != nil || len(h) != 1 {
		t.Errorf("the user's dossier has %d history events (%v), want only its creation", len(h), err)
	}
	if x, err := s.IncomingDoc(ctx, doc.ID); err != nil || x.Status != doc.Status {
		t.Errorf("the user's document: %v, status %s, want %s", err, x.Status, doc.Status)
	}
	if h, err := s.History(ctx, demo); err != nil || len(h) < 2 {
		t.Errorf("the demo's own dossier was never moved (%d events, %v): the test proves nothing", len(h), err)
	}
}

func jsonMustMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
