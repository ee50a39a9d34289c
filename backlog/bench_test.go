package backlog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// benchRows writes n JSON lines of dossiers spread over the communes of
// province 11 and the two years before now: mostly closed (on time,
// early, a few late), recent ones open.
func benchRows(s *Service, from, n int, now time.Time, rng *rand.Rand) []byte {
	communes := s.units.communesOf("11")
	var buf bytes.Buffer
	span := 700 * 24 * time.Hour
	for i := from; i < from+n; i++ {
		u := communes[i%len(communes)]
		p := demoProcedures[rng.IntN(len(demoProcedures))]
		rec := now.Add(-time.Duration(rng.Int64N(int64(span))))
		due := s.cal.DueAt(rec, Deadline{p.days, "working_day"})
		row := map[string]any{"MaHoSo": fmt.Sprintf("B-%07d", i), "MaTTHC": p.code, "MaDVHC": u.Code, "ChuHoSo": "Người nộp",
			"NgayTiepNhan": FormatPortalTime(rec), "NgayHenTra": FormatPortalTime(due), "KenhThucHien": 1 + rng.IntN(2),
			"NgayDongBo": FormatPortalTime(rec.Add(time.Minute)), "DaSoHoaHoSo": rng.IntN(10) < 8}
		if p.fee {
			row["DanhSachLePhi"] = []map[string]any{{"Gia": 20000}}
			row["DuocThanhToanTrucTuyen"] = rng.IntN(2)
		}
		end := rec.Add(time.Duration(float64(due.Sub(rec)) * (0.2 + 1.0*rng.Float64())))
		if end.Before(now) {
			row["TrangThaiHoSo"] = 10
			row["NgayKetThucXuLy"] = FormatPortalTime(end)
			row["NgayTra"] = FormatPortalTime(end)
			row["DuongDanTepTinKetQua"] = "x"
		} else {
			row["TrangThaiHoSo"] = 4
		}
		b, _ := json.Marshal(row)
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// BenchmarkBacklog loads 1,000,000 dossiers across Điện Biên's 45 communes
// through the importer (the first 100,000 into an empty database are timed
// as the import benchmark), then measures a commune's and the province's
// indicators and the time from an upsert to its event on the bus.
//
//	go test ./backlog -run '^$' -bench Backlog -benchtime 200x -timeout 60m
func BenchmarkBacklog(b *testing.B) {
	s, pool := newTestService(b, nil)
	ctx := context.Background()
	for _, p := range demoProcedures {
		putProc(b, s, p.code, p.fee, p.paper, p.days)
	}
	total := 1_000_000
	if testing.Short() {
		total = 200_000
	}
	now := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	for from := 0; from < total; from += 100_000 {
		data := benchRows(s, from, 100_000, now, rng)
		start := time.Now()
		rep, err := s.Import(ctx, bytes.NewReader(data), ImportOptions{Format: "jsonl", Actor: "bench"})
		if err != nil || rep.Rejected > 0 {
			b.Fatalf("import: %v %+v", err, rep)
		}
		b.Logf("import rows %d–%d (%.1f MB): %v", from+1, from+100_000, float64(len(data))/1e6, time.Since(start).Round(time.Millisecond))
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		b.Fatal(err)
	}
	var open int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM dossiers WHERE state = 1`).Scan(&open)
	b.Logf("%d dossiers loaded, %d open", total, open)
	wall := WallPeriod(time.Now())
	lastYear, _ := ParsePeriod(fmt.Sprintf("%d-01-01", now.Year()-1), fmt.Sprintf("%d-12-31", now.Year()-1), now)

	timeIt := func(b *testing.B, unit string, p Period) {
		var d []time.Duration
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			if _, err := s.KPIs(ctx, unit, p); err != nil {
				b.Fatal(err)
			}
			d = append(d, time.Since(start))
		}
		b.StopTimer()
		reportPercentiles(b, d)
	}
	b.Run("kpis_commune_year_to_date", func(b *testing.B) { timeIt(b, "03244", wall) })
	b.Run("kpis_province_year_to_date", func(b *testing.B) { timeIt(b, "11", wall) })
	b.Run("kpis_commune_last_year", func(b *testing.B) { timeIt(b, "03244", lastYear) })
	b.Run("kpis_province_last_year", func(b *testing.B) { timeIt(b, "11", lastYear) })

	b.Run("upsert_to_bus", func(b *testing.B) {
		bus := hub.NewBus(hub.BusOptions{})
		fctx, cancel := context.WithCancel(ctx)
		f := hub.NewOutboxFollower(pool, bus, slog.New(slog.DiscardHandler), nil)
		done := make(chan struct{})
		go func() { defer close(done); f.Run(fctx) }()
		defer func() { cancel(); <-done }()
		sub, err := bus.Subscribe([]string{"commune/03244/kpi"}, 64<<20)
		if err != nil {
			b.Fatal(err)
		}
		defer sub.Close()
		var primed int64 // the follower primes the latest events first
		if err := pool.QueryRow(ctx, `SELECT coalesce(max(id),0) FROM outbox`).Scan(&primed); err != nil {
			b.Fatal(err)
		}
		hubtest.WaitFor(b, 10*time.Second, func() bool { return f.LastID() >= primed }, "the follower to prime")
		sub.Drain()
		var d []time.Duration
		run := time.Now().UnixNano() // the benchmark function runs more than once: new codes each time
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			rec := time.Now().Add(-time.Hour)
			body, _ := json.Marshal(map[string]any{"MaTTHC": "1.001193", "MaDVHC": "03244", "TrangThaiHoSo": 2,
				"NgayTiepNhan": FormatPortalTime(rec), "KenhThucHien": 2})
			start := time.Now()
			if _, err := s.UpsertDossier(ctx, fmt.Sprintf("BUS-%d-%06d", run, i), body, "bench", "api"); err != nil {
				b.Fatal(err)
			}
		wait:
			for {
				select {
				case <-sub.Ready():
					if len(sub.Drain()) > 0 {
						break wait
					}
				case <-time.After(hubtest.Timeout(5 * time.Second)):
					var maxID int64
					_ = pool.QueryRow(ctx, `SELECT max(id) FROM outbox`).Scan(&maxID)
					b.Fatalf("no event within 5 s (op %d; follower at %d, outbox at %d, subscription error %v)", i, f.LastID(), maxID, sub.Err())
				}
			}
			d = append(d, time.Since(start))
		}
		b.StopTimer()
		reportPercentiles(b, d)
	})
}

func reportPercentiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	pct := func(p float64) float64 {
		i := int(float64(len(d)-1) * p)
		return float64(d[i].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(d[len(d)-1].Microseconds())/1000, "max-ms")
}
