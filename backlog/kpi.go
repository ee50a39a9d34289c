package backlog

import (
	"context"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// dbtx is what the KPI queries need: a pool or a transaction.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Period is a closed range of Vietnam days.
type Period struct {
	From, To time.Time // midnight, Vietnam time; To inclusive
}

// ParsePeriod reads YYYY-MM-DD bounds; empty from is 1 January of to's
// year, empty to is today.
func ParsePeriod(from, to string, now time.Time) (Period, error) {
	var p Period
	if to == "" {
		p.To = startOfDay(now)
	} else {
		t, err := time.ParseInLocation(time.DateOnly, to, VN)
		if err != nil {
			return p, fieldErr("to", "must be YYYY-MM-DD, not %q", clip(to))
		}
		p.To = t
	}
	if from == "" {
		p.From = time.Date(p.To.Year(), 1, 1, 0, 0, 0, 0, VN)
	} else {
		t, err := time.ParseInLocation(time.DateOnly, from, VN)
		if err != nil {
			return p, fieldErr("from", "must be YYYY-MM-DD, not %q", clip(from))
		}
		p.From = t
	}
	if p.To.Before(p.From) {
		return p, fieldErr("to", "is before from")
	}
	if p.To.Sub(p.From) > 20*366*24*time.Hour {
		return p, fieldErr("from", "the period may span at most 20 years")
	}
	return p, nil
}

// WallPeriod is the period the wall shows: 1 January to today.
func WallPeriod(now time.Time) Period {
	p, _ := ParsePeriod("", "", now)
	return p
}

// at returns the moment the period is evaluated at: now while the period
// runs, else the end of its last day.
func (p Period) at(now time.Time) (t time.Time, live bool) {
	end := p.To.AddDate(0, 0, 1)
	if now.Before(end) {
		return now, true
	}
	return end, false
}

// split decomposes the period into whole months [m1, m2) and the days
// before and after them: the monthly table answers the former.
func (p Period) split() (m1, m2, d1a, d1b, d2a, d2b time.Time) {
	m1 = time.Date(p.From.Year(), p.From.Month(), 1, 0, 0, 0, 0, VN)
	if !m1.Equal(p.From) {
		m1 = m1.AddDate(0, 1, 0)
	}
	after := p.To.AddDate(0, 0, 1)
	m2 = time.Date(after.Year(), after.Month(), 1, 0, 0, 0, 0, VN)
	if !m2.After(m1) { // no whole month inside
		return m1, m1, p.From, p.To, p.To.AddDate(0, 0, 1), p.To
	}
	return m1, m2, p.From, m1.AddDate(0, 0, -1), m2, p.To
}

// dateArg passes a Vietnam day to a date parameter.
func dateArg(t time.Time) string { return t.In(VN).Format(time.DateOnly) }

// KPIs computes the indicators of a commune or a province for a period.
func (s *Service) KPIs(ctx context.Context, code string, p Period) (*KPIs, error) {
	return s.kpisWith(ctx, s.pool, code, p, s.now())
}

func (s *Service) kpisWith(ctx context.Context, db dbtx, code string, p Period, now time.Time) (*KPIs, error) {
	start := time.Now()
	u, province, err := s.units.lookup(code)
	if err != nil {
		return nil, err
	}
	sums, err := s.computeSums(ctx, db, code, province, p, now)
	if err != nil {
		return nil, err
	}
	k := &KPIs{Unit: code, Name: u.Name, From: dateArg(p.From), To: dateArg(p.To),
		AsOf: now.In(VN).Truncate(time.Second).Format(time.RFC3339)}
	total := &unitSums{}
	if province {
		k.Level = "province"
		for _, cu := range s.units.communesOf(code) {
			x := sums[cu.Code]
			if x == nil {
				x = &unitSums{}
			}
			total.add(x)
			d, doc := assemble(x)
			k.Communes = append(k.Communes, CommuneRow{
				Code: cu.Code, Name: cu.Name, Received: d.Received, Open: d.Open, OpenOverdue: d.OpenOverdue,
				OpenDueSoon: d.OpenDueSoon, OnTimeRate: d.OnTimeRate, DocumentsBacklog: doc.Backlog, DocumentsOverdue: doc.Overdue,
			})
		}
		if k.Communes == nil {
			k.Communes = []CommuneRow{}
		}
	} else {
		k.Level, k.Province = "commune", u.Province
		if x := sums[code]; x != nil {
			total = x
		}
	}
	k.Dossiers, k.Documents = assemble(total)
	k.Points = estimatePoints(&k.Dossiers)
	if s.metrics != nil {
		s.metrics.kpiSeconds.WithLabelValues(k.Level).Observe(time.Since(start).Seconds())
	}
	return k, nil
}

func fieldErr(field, format string, args ...any) error {
	return hub.FieldError(field, format, args...)
}
