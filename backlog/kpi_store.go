package backlog

// The indicators' reads: a period's sums of the aggregates, the carried-over
// count, the fee procedures, the open set and the document backlog, per
// commune, in one batch (kpi.go assembles the indicators from them).

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// scopeCond is the WHERE fragment selecting a commune or a province.
func scopeCond(province bool) string {
	if province {
		return "province_code = $1"
	}
	return "unit_code = $1"
}

// sumCols sums every counter column.
func sumCols() string {
	parts := make([]string, nCounters)
	for i, c := range counterColumns {
		parts[i] = fmt.Sprintf("sum(%s)::bigint", c)
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
	) s GROUP BY unit_code`, sumCols(), cols, scope, cols, scope),
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
