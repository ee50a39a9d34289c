package backlog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Simulator moves the demo communes' dossiers and documents along so the
// walls change: new dossiers arrive, open ones are processed, results are
// handed over, documents are registered and completed. Every step goes
// through the same service calls as real traffic, as actor and source
// "demo", and it moves only records it (or the demo seed) created: a
// dossier or document a user made is never touched.
type Simulator struct {
	s        *Service
	communes []string
	every    time.Duration
	rng      *rand.Rand
	seq      int
}

// demoSource is the actor and source of every demo write.
const demoSource = "demo"

// NewSimulator returns a simulator taking one step every interval.
func (s *Service) NewSimulator(communes []string, every time.Duration) *Simulator {
	return &Simulator{s: s, communes: communes, every: every, rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))}
}

// Run steps until ctx ends.
func (sim *Simulator) Run(ctx context.Context) {
	t := time.NewTicker(sim.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := sim.Step(ctx); err != nil && ctx.Err() == nil {
			sim.s.log.Debug("backlog simulator step", "err", err)
		}
	}
}

// Step takes one random action.
func (sim *Simulator) Step(ctx context.Context) error {
	s, rng := sim.s, sim.rng
	unit := sim.communes[rng.IntN(len(sim.communes))]
	now := s.now()
	switch r := rng.IntN(100); {
	case r < 30: // a new dossier
		sim.seq++
		p := demoProcedures[rng.IntN(len(demoProcedures))]
		code := fmt.Sprintf("000.00.%s.H17-%s-S%03d", unit[2:], now.In(VN).Format("060102"), sim.seq%1000)
		body := map[string]any{"MaHoSo": code, "MaTTHC": p.code, "MaDVHC": unit, "TrangThaiHoSo": 2,
			"NgayTiepNhan": FormatPortalTime(now), "KenhThucHien": 1 + rng.IntN(2), "ChuHoSo": demoNames[rng.IntN(len(demoNames))],
			"TrichYeuHoSo": p.name, "NgayDongBo": FormatPortalTime(now), "DaSoHoaHoSo": rng.IntN(100) < 85}
		// The code is the simulator's own pattern, but a user may have used it.
		var taken bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM dossiers d WHERE d.code = $1 AND NOT `+demoDossierOwned+`)`,
			code).Scan(&taken); err != nil || taken {
			return err
		}
		if p.fee {
			body["DanhSachLePhi"] = []map[string]any{{"Gia": 20000}}
		}
		return sim.push(ctx, code, body)
	case r < 75: // move an open dossier along
		list, _, err := s.ListDossiers(ctx, DossierFilter{Unit: unit, Class: "open", Limit: 30, demoOwned: true})
		if err != nil || len(list) == 0 {
			return err
		}
		d := list[rng.IntN(len(list))]
		body := PortalBody(d)
		switch d.Status {
		case StatusReceived, StatusSupplement, StatusFinancial:
			body["TrangThaiHoSo"] = StatusProcessing
		case StatusProcessing:
			if rng.IntN(100) < 10 {
				body["TrangThaiHoSo"] = StatusSupplement
			} else {
				body["TrangThaiHoSo"] = StatusReturned
				body["NgayKetThucXuLy"] = FormatPortalTime(now)
				body["NgayTra"] = FormatPortalTime(now)
				body["DuongDanTepTinKetQua"] = "demo://ket-qua/" + d.Code
			}
		}
		return sim.push(ctx, d.Code, body)
	case r < 90: // a new incoming document
		_, err := s.RegisterIncoming(ctx, IncomingInput{Unit: unit, Issuer: demoIssuers[rng.IntN(len(demoIssuers))],
			Subject: demoSubjects[rng.IntN(len(demoSubjects))], DocType: "Công văn",
			Urgency:  []string{"thuong", "thuong", "thuong", "khan"}[rng.IntN(4)],
			Deadline: s.cal.AddWorkingDays(now, 2+rng.IntN(5)).Format(time.RFC3339)}, demoSource)
		return err
	default: // finish a document
		docs, _, err := s.ListIncoming(ctx, DocFilter{Unit: unit, Backlog: true, Limit: 20, demoOwned: true})
		if err != nil || len(docs) == 0 {
			return err
		}
		d := docs[rng.IntN(len(docs))]
		next := DocInProgress
		if d.Status == DocInProgress {
			next = DocDone
		}
		_, err = s.PatchIncoming(ctx, d.ID, IncomingPatch{Status: next}, demoSource)
		return err
	}
}

func (sim *Simulator) push(ctx context.Context, code string, body map[string]any) error {
	b, err := jsonMarshal(body)
	if err != nil {
		return err
	}
	_, err = sim.s.UpsertDossier(ctx, code, b, demoSource, demoSource)
	return err
}
