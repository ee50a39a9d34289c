package backlog

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
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

// Rate is a ratio that sums across units: a province's rate is the sum of
// its communes' numerators over the sum of their denominators.
type Rate struct {
	Num, Den int64
}

// Value is Num/Den, or nil when Den is 0.
func (r Rate) Value() *float64 {
	if r.Den == 0 {
		return nil
	}
	v := float64(r.Num) / float64(r.Den)
	return &v
}

// MarshalJSON encodes {"num","den","value"}.
func (r Rate) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Num   int64    `json:"num"`
		Den   int64    `json:"den"`
		Value *float64 `json:"value"`
	}{r.Num, r.Den, r.Value()})
}

// Average is a mean that sums across units like a rate: Num is the total
// (processing days), Den the count.
type Average struct {
	Num float64
	Den int64
}

// MarshalJSON encodes {"num","den","value"} with num rounded to 2 decimals.
func (a Average) MarshalJSON() ([]byte, error) {
	var v *float64
	if a.Den > 0 {
		x := a.Num / float64(a.Den)
		v = &x
	}
	return json.Marshal(struct {
		Num   float64  `json:"num"`
		Den   int64    `json:"den"`
		Value *float64 `json:"value"`
	}{math.Round(a.Num*100) / 100, a.Den, v})
}

// DossierKPIs are the dossier indicators (docs/kpis.md); the JSON keys are
// stable API.
type DossierKPIs struct {
	Received                 int64   `json:"received"`
	CarriedOver              int64   `json:"carried_over"`
	ToProcess                int64   `json:"to_process"`
	Open                     int64   `json:"open"`
	OpenOverdue              int64   `json:"open_overdue"`
	OpenDueSoon              int64   `json:"open_due_soon"`
	OpenWithin               int64   `json:"open_within"`
	OpenPaused               int64   `json:"open_paused"`
	Finished                 int64   `json:"finished"`
	FinishedEarly            int64   `json:"finished_early"`
	FinishedOnTime           int64   `json:"finished_on_time"`
	FinishedLate             int64   `json:"finished_late"`
	OnTimeRate               Rate    `json:"on_time_rate"`
	OnlineRate               Rate    `json:"online_rate"`
	OnlineRateRaw            Rate    `json:"online_rate_raw"`
	DigitizationRate         Rate    `json:"digitization_rate"`
	EResultRate              Rate    `json:"e_result_rate"`
	PaidOnlineRate           Rate    `json:"paid_online_rate"`
	ProceduresPaidOnlineRate Rate    `json:"procedures_paid_online_rate"`
	AvgProcessingDays        Average `json:"avg_processing_days"`
	SyncRate                 Rate    `json:"sync_rate"`
	SatisfactionRate         Rate    `json:"satisfaction_rate"`
}

// DocumentKPIs are the document indicators; the JSON keys are stable API.
type DocumentKPIs struct {
	Incoming                int64 `json:"incoming"`
	Backlog                 int64 `json:"backlog"`
	Overdue                 int64 `json:"overdue"`
	UrgentBreaches          int64 `json:"urgent_breaches"`
	Outgoing                int64 `json:"outgoing"`
	OnTimeCompletionRate    Rate  `json:"on_time_completion_rate"`
	ElectronicShare         Rate  `json:"electronic_share"`
	OutgoingFullySignedRate Rate  `json:"outgoing_fully_signed_rate"`
}

// PointItem is one estimated Decision 766 sub-score.
type PointItem struct {
	Indicator string   `json:"indicator"`
	Max       float64  `json:"max"`
	FullAt    float64  `json:"full_at"`
	Points    *float64 `json:"points"`
}

// Points are estimated Decision 766 points, labelled as estimates.
type Points struct {
	Estimate bool                 `json:"estimate"`
	NoteVI   string               `json:"note_vi"`
	NoteEN   string               `json:"note_en"`
	Items    map[string]PointItem `json:"items"`
}

// CommuneRow is one commune in a province's body.
type CommuneRow struct {
	Code             string `json:"code"`
	Name             string `json:"name"`
	Received         int64  `json:"received"`
	Open             int64  `json:"open"`
	OpenOverdue      int64  `json:"open_overdue"`
	OpenDueSoon      int64  `json:"open_due_soon"`
	OnTimeRate       Rate   `json:"on_time_rate"`
	DocumentsBacklog int64  `json:"documents_backlog"`
	DocumentsOverdue int64  `json:"documents_overdue"`
}

// KPIs is the body of GET /api/v1/kpis and of the kpi topics.
type KPIs struct {
	Unit      string       `json:"unit"`
	Level     string       `json:"level"`
	Name      string       `json:"name"`
	Province  string       `json:"province,omitempty"`
	From      string       `json:"from"`
	To        string       `json:"to"`
	AsOf      string       `json:"as_of"`
	Dossiers  DossierKPIs  `json:"dossiers"`
	Documents DocumentKPIs `json:"documents"`
	Points    Points       `json:"points_estimate"`
	Communes  []CommuneRow `json:"communes,omitempty"`
}

// unitSums are one commune's raw numbers for a period; a province adds them.
type unitSums struct {
	c                                        counters
	carried                                  int64
	feeProcs, paidProcs                      int64
	open, overdue, soon, paused, openOnTime  int64
	docBacklog, docOverdue, docUrgentPending int64
}

func (s *unitSums) add(o *unitSums) {
	for i := range s.c {
		s.c[i] += o.c[i]
	}
	s.carried += o.carried
	s.feeProcs += o.feeProcs
	s.paidProcs += o.paidProcs
	s.open += o.open
	s.overdue += o.overdue
	s.soon += o.soon
	s.paused += o.paused
	s.openOnTime += o.openOnTime
	s.docBacklog += o.docBacklog
	s.docOverdue += o.docOverdue
	s.docUrgentPending += o.docUrgentPending
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

// scopeCond is the WHERE fragment selecting a commune or a province.
func scopeCond(province bool) string {
	if province {
		return "province_code = $1"
	}
	return "unit_code = $1"
}

func sumCols(prefix string) string {
	parts := make([]string, nCounters)
	for i, c := range counterColumns {
		parts[i] = fmt.Sprintf("sum(%s%s)::bigint", prefix, c)
	}
	return strings.Join(parts, ", ")
}

// computeSums reads every commune's raw numbers for a period in one round
// trip: the aggregates, the carried-over count, the fee procedures, the
// open set and the document backlog.
func (s *Service) computeSums(ctx context.Context, db dbtx, code string, province bool, p Period, now time.Time) (map[string]*unitSums, error) {
	t, live := p.at(now)
	soon := s.cal.AddWorkingDays(t, s.cfg.DueSoonDays)
	m1, m2, d1a, d1b, d2a, d2b := p.split()
	scope := scopeCond(province)
	cols := strings.Join(counterColumns[:], ", ")
	out := map[string]*unitSums{}
	get := func(u string) *unitSums {
		x := out[u]
		if x == nil {
			x = &unitSums{}
			out[u] = x
		}
		return x
	}
	b := &pgx.Batch{}
	b.Queue(fmt.Sprintf(`SELECT unit_code, %s FROM (
		SELECT unit_code, %s FROM kpi_monthly WHERE %s AND month >= $2 AND month < $3
		UNION ALL
		SELECT unit_code, %s FROM kpi_daily WHERE %s AND ((day BETWEEN $4 AND $5) OR (day BETWEEN $6 AND $7))
	) s GROUP BY unit_code`, sumCols(""), cols, scope, cols, scope),
		code, dateArg(m1), dateArg(m2), dateArg(d1a), dateArg(d1b), dateArg(d2a), dateArg(d2b)).
		Query(eachRow(func(r pgx.Row) error {
			var u string
			var c counters
			dst := []any{&u}
			for i := range c {
				dst = append(dst, &c[i])
			}
			if err := r.Scan(dst...); err != nil {
				return err
			}
			get(u).c = c
			return nil
		}))
	fm := time.Date(p.From.Year(), p.From.Month(), 1, 0, 0, 0, 0, VN)
	b.Queue(fmt.Sprintf(`SELECT unit_code, sum(received - closed)::bigint FROM (
		SELECT unit_code, received, closed FROM kpi_monthly WHERE %s AND month < $2
		UNION ALL
		SELECT unit_code, received, closed FROM kpi_daily WHERE %s AND day >= $2 AND day < $3
	) s GROUP BY unit_code`, scope, scope), code, dateArg(fm), dateArg(p.From)).
		Query(eachRow(func(r pgx.Row) error {
			var u string
			var n int64
			if err := r.Scan(&u, &n); err != nil {
				return err
			}
			get(u).carried = n
			return nil
		}))
	// Fee-bearing procedures with a dossier (and with one paid online) in
	// the period: OR the day bitmaps of each (commune, procedure) over the
	// period's years.
	type procKey struct {
		unit string
		proc int
	}
	seenProc := map[procKey]*[2]bool{}
	b.Queue(fmt.Sprintf(`SELECT unit_code, procedure_id, year, n_days, paid_days FROM kpi_fee_year
		WHERE %s AND year BETWEEN $2 AND $3`, scope), code, p.From.Year(), p.To.Year()).
		Query(eachRow(func(r pgx.Row) error {
			var u string
			var proc, year int
			var nb, pb []byte
			if err := r.Scan(&u, &proc, &year, &nb, &pb); err != nil {
				return err
			}
			var nBits, pBits yearBits
			copy(nBits[:], nb)
			copy(pBits[:], pb)
			from, to := 1, 366
			if year == p.From.Year() {
				from = p.From.YearDay()
			}
			if year == p.To.Year() {
				to = p.To.YearDay()
			}
			k := procKey{u, proc}
			seen := seenProc[k]
			if seen == nil {
				seen = &[2]bool{}
				seenProc[k] = seen
			}
			seen[0] = seen[0] || nBits.anyIn(from, to)
			seen[1] = seen[1] || pBits.anyIn(from, to)
			return nil
		}))
	if live {
		b.Queue(fmt.Sprintf(`SELECT unit_code, count(*),
			count(*) FILTER (WHERE (paused_since IS NULL AND deadline < $2) OR paused_since > deadline),
			count(*) FILTER (WHERE paused_since IS NULL AND deadline >= $2 AND deadline <= $3),
			count(*) FILTER (WHERE paused_since IS NOT NULL),
			count(*) FILTER (WHERE supplement_count <= 1 AND NOT coalesce((paused_since IS NULL AND deadline < $2) OR paused_since > deadline, false))
			FROM dossiers WHERE %s AND state = 1 GROUP BY unit_code`, scope), code, t, soon).
			Query(eachRow(func(r pgx.Row) error {
				var u string
				var o [5]int64
				if err := r.Scan(&u, &o[0], &o[1], &o[2], &o[3], &o[4]); err != nil {
					return err
				}
				x := get(u)
				x.open, x.overdue, x.soon, x.paused, x.openOnTime = o[0], o[1], o[2], o[3], o[4]
				return nil
			}))
	} else {
		// Open at t: still open and received by t, or closed after t
		// (the GiST index on the reception–closing span finds those).
		b.Queue(fmt.Sprintf(`SELECT unit_code, due_at, pauses, paused_since FROM dossiers
			WHERE %[1]s AND state = 1 AND received_at <= $2
			UNION ALL
			SELECT unit_code, due_at, pauses, paused_since FROM dossiers
			WHERE %[1]s AND state = 2 AND tstzrange(received_at, closed_at) @> $2::timestamptz`, scope), code, t).
			Query(eachRow(func(r pgx.Row) error {
				var u string
				var d Dossier
				if err := r.Scan(&u, &d.DueAt, &d.Pauses, &d.PausedSince); err != nil {
					return err
				}
				dl, paused, sups := d.stateAt(t)
				x := get(u)
				x.open++
				if paused != nil {
					x.paused++
				}
				class := classifyOpen(dl, paused, t, soon)
				switch class {
				case OpenOverdue:
					x.overdue++
				case OpenDueSoon:
					x.soon++
				}
				if class != OpenOverdue && sups <= 1 {
					x.openOnTime++
				}
				return nil
			}))
	}
	docCond := "ended_at IS NULL"
	if !live {
		docCond = "received_at <= $2 AND (ended_at IS NULL OR ended_at > $2)"
	}
	b.Queue(fmt.Sprintf(`SELECT unit_code, count(*), count(*) FILTER (WHERE deadline < $2),
		count(*) FILTER (WHERE ended_at IS NULL AND presented_at IS NULL AND urgent_deadline < $5 AND received_at >= $3 AND received_at < $4)
		FROM incoming_docs WHERE %s AND %s GROUP BY unit_code`, scope, docCond),
		code, t, p.From, p.To.AddDate(0, 0, 1), now).
		Query(eachRow(func(r pgx.Row) error {
			var u string
			var a, b, c int64
			if err := r.Scan(&u, &a, &b, &c); err != nil {
				return err
			}
			x := get(u)
			x.docBacklog, x.docOverdue, x.docUrgentPending = a, b, c
			return nil
		}))
	if err := db.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("kpi %s: %w", code, err)
	}
	for k, seen := range seenProc {
		if seen[0] {
			x := get(k.unit)
			x.feeProcs++
			if seen[1] {
				x.paidProcs++
			}
		}
	}
	return out, nil
}

// assemble turns raw sums into the indicators.
func assemble(s *unitSums) (DossierKPIs, DocumentKPIs) {
	c := s.c
	d := DossierKPIs{
		Received:                 c[cReceived],
		CarriedOver:              s.carried,
		ToProcess:                c[cReceived] + s.carried,
		Open:                     s.open,
		OpenOverdue:              s.overdue,
		OpenDueSoon:              s.soon,
		OpenWithin:               s.open - s.overdue - s.soon,
		OpenPaused:               s.paused,
		Finished:                 c[cFinished],
		FinishedEarly:            c[cEarly],
		FinishedOnTime:           c[cOnTime],
		FinishedLate:             c[cLate],
		OnTimeRate:               Rate{c[cClosedOnTime] + s.openOnTime, c[cReceived] + s.carried},
		OnlineRate:               Rate{c[cOnline], c[cReceived]},
		OnlineRateRaw:            Rate{c[cOnlineRaw], c[cReceived]},
		DigitizationRate:         Rate{c[cDigitized], c[cReceived]},
		EResultRate:              Rate{c[cERes], c[cEResDen]},
		PaidOnlineRate:           Rate{c[cPaid], c[cFee]},
		ProceduresPaidOnlineRate: Rate{s.paidProcs, s.feeProcs},
		AvgProcessingDays:        Average{float64(c[cSeconds]) / 86400, c[cFinished]},
		SyncRate:                 Rate{c[cSynced], c[cReceived]},
		SatisfactionRate:         Rate{c[cSatisfied], c[cFinished]},
	}
	doc := DocumentKPIs{
		Incoming:                c[cDIn],
		Backlog:                 s.docBacklog,
		Overdue:                 s.docOverdue,
		UrgentBreaches:          c[cDUrgentLate] + s.docUrgentPending,
		Outgoing:                c[cDOut],
		OnTimeCompletionRate:    Rate{c[cDDoneOnTime], c[cDDoneDL]},
		ElectronicShare:         Rate{c[cDInElectronic], c[cDIn]},
		OutgoingFullySignedRate: Rate{c[cDOutSigned], c[cDOut]},
	}
	return d, doc
}

// pointRules are the estimated Decision 766 sub-scores (docs/kpis.md):
// points = max × min(1, value / full_at).
var pointRules = []struct {
	key, indicator string
	max, fullAt    float64
	rate           func(*DossierKPIs) Rate
}{
	{"progress", "on_time_rate", 20, 1, func(d *DossierKPIs) Rate { return d.OnTimeRate }},
	{"sync", "sync_rate", 6, 1, func(d *DossierKPIs) Rate { return d.SyncRate }},
	{"paid_online", "paid_online_rate", 6, 0.3, func(d *DossierKPIs) Rate { return d.PaidOnlineRate }},
	{"procedures_paid", "procedures_paid_online_rate", 2, 0.8, func(d *DossierKPIs) Rate { return d.ProceduresPaidOnlineRate }},
	{"e_result", "e_result_rate", 6, 1, func(d *DossierKPIs) Rate { return d.EResultRate }},
	{"digitization", "digitization_rate", 4, 0.8, func(d *DossierKPIs) Rate { return d.DigitizationRate }},
	{"satisfaction", "satisfaction_rate", 6, 0.9, func(d *DossierKPIs) Rate { return d.SatisfactionRate }},
}

func estimatePoints(d *DossierKPIs) Points {
	p := Points{
		Estimate: true,
		NoteVI:   "Điểm ước tính theo QĐ 766; điểm chính thức do Cổng Dịch vụ công quốc gia tính.",
		NoteEN:   "Estimated Decision 766 points; the official score is computed by the National Public Service Portal.",
		Items:    map[string]PointItem{},
	}
	for _, r := range pointRules {
		it := PointItem{Indicator: r.indicator, Max: r.max, FullAt: r.fullAt}
		if v := r.rate(d).Value(); v != nil {
			pts := math.Round(r.max*math.Min(1, *v/r.fullAt)*100) / 100
			it.Points = &pts
		}
		p.Items[r.key] = it
	}
	return p
}

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

// eachRow adapts a per-row function to a batch's Query callback.
func eachRow(fn func(pgx.Row) error) func(pgx.Rows) error {
	return func(rows pgx.Rows) error {
		for rows.Next() {
			if err := fn(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
}
