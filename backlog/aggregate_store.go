package backlog

// The aggregates' storage: kpi_daily, kpi_monthly and kpi_fee_year, the
// deltas every write adds to them and their rebuild from the stored
// dossiers and documents (kpi_store.go reads them).

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// apply writes the accumulated deltas to the daily and monthly tables in
// one statement per table, keys sorted so that concurrent writers lock rows
// in the same order.
func (a *aggDelta) apply(ctx context.Context, tx pgx.Tx) error {
	months := map[aggKey]*counters{}
	for k, c := range a.days {
		mk := aggKey{k.Unit, k.Province, monthOf(k.Day)}
		m := months[mk]
		if m == nil {
			m = &counters{}
			months[mk] = m
		}
		for i := range c {
			m[i] += c[i]
		}
	}
	if err := upsertCounters(ctx, tx, "kpi_daily", "day", a.days); err != nil {
		return err
	}
	if err := upsertCounters(ctx, tx, "kpi_monthly", "month", months); err != nil {
		return err
	}
	return applyFees(ctx, tx, a.fees)
}

func upsertCounters(ctx context.Context, tx pgx.Tx, table, dayCol string, rows map[aggKey]*counters) error {
	keys := make([]aggKey, 0, len(rows))
	for k, c := range rows {
		if *c != (counters{}) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.SortFunc(keys, func(x, y aggKey) int {
		if c := strings.Compare(x.Unit, y.Unit); c != 0 {
			return c
		}
		return int(x.Day - y.Day)
	})
	unitsA := make([]string, len(keys))
	provA := make([]string, len(keys))
	daysA := make([]time.Time, len(keys))
	cols := make([][]int64, nCounters)
	for i := range cols {
		cols[i] = make([]int64, len(keys))
	}
	for j, k := range keys {
		unitsA[j], provA[j], daysA[j] = k.Unit, k.Province, dayOf(k.Day)
		for i, v := range rows[k] {
			cols[i][j] = v
		}
	}
	var sel, set strings.Builder
	args := []any{unitsA, daysA, provA}
	for i, col := range counterColumns {
		fmt.Fprintf(&sel, ", $%d::bigint[]", i+4)
		if i > 0 {
			set.WriteString(", ")
		}
		fmt.Fprintf(&set, "%s = %s.%s + excluded.%s", col, table, col, col)
		args = append(args, cols[i])
	}
	sql := fmt.Sprintf(`INSERT INTO %s (unit_code, %s, province_code, %s)
		SELECT * FROM unnest($1::text[], $2::date[], $3::text[]%s)
		ON CONFLICT (unit_code, %s) DO UPDATE SET %s`,
		table, dayCol, strings.Join(counterColumns[:], ", "), sel.String(), dayCol, set.String())
	_, err := tx.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("update %s: %w", table, err)
	}
	return nil
}

// yearBits is a bitmap of the days of a year: bit d-1 is day-of-year d.
type yearBits [46]byte

func (b *yearBits) set(doy int) { b[(doy-1)/8] |= 1 << ((doy - 1) % 8) }

// anyIn reports whether a bit is set for a day-of-year in [from, to].
func (b *yearBits) anyIn(from, to int) bool {
	for d := max(from, 1); d <= min(to, 366); d++ {
		if b[(d-1)/8]&(1<<((d-1)%8)) != 0 {
			return true
		}
	}
	return false
}

// yearCounts are a year's day counts, stored as 366 little-endian uint32.
type yearCounts [366]int64

func (c *yearCounts) decode(b []byte) {
	for i := 0; i < 366 && 4*i+4 <= len(b); i++ {
		c[i] = int64(binary.LittleEndian.Uint32(b[4*i:]))
	}
}

func (c *yearCounts) encode() ([]byte, yearBits) {
	out := make([]byte, 4*366)
	var bits yearBits
	for i, v := range c {
		binary.LittleEndian.PutUint32(out[4*i:], uint32(max(v, 0)))
		if v > 0 {
			bits.set(i + 1)
		}
	}
	return out, bits
}

type feeYearKey struct {
	Unit, Province string
	Procedure      int
	Year           int
}

// applyFees adds the fee deltas to the year rows they touch: read, add
// in Go, write back (the province lock the writer holds keeps this safe).
func applyFees(ctx context.Context, tx pgx.Tx, fees map[feeKey]*[2]int64) error {
	counts := map[feeYearKey]*[2]yearCounts{}
	for k, f := range fees {
		if *f == ([2]int64{}) {
			continue
		}
		yk := feeYearKey{k.Unit, k.Province, k.Procedure, int(k.Day) / 10000}
		c := counts[yk]
		if c == nil {
			c = &[2]yearCounts{}
			counts[yk] = c
		}
		d := dayOf(k.Day).YearDay() - 1
		c[0][d] += f[0]
		c[1][d] += f[1]
	}
	if len(counts) == 0 {
		return nil
	}
	keys := make([]feeYearKey, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y feeYearKey) int {
		if c := strings.Compare(x.Unit, y.Unit); c != 0 {
			return c
		}
		if x.Year != y.Year {
			return x.Year - y.Year
		}
		return x.Procedure - y.Procedure
	})
	n := len(keys)
	unitsA, procA, yearA, provA := make([]string, n), make([]int32, n), make([]int32, n), make([]string, n)
	provinces := map[string]string{}
	for i, k := range keys {
		unitsA[i], procA[i], yearA[i], provA[i] = k.Unit, int32(k.Procedure), int32(k.Year), k.Province
		provinces[k.Unit] = k.Province
	}
	rows, err := tx.Query(ctx, `SELECT y.unit_code, y.procedure_id, y.year, y.n_counts, y.paid_counts
		FROM unnest($1::text[], $2::int[], $3::int[]) AS k(unit_code, procedure_id, year)
		JOIN kpi_fee_year y USING (unit_code, procedure_id, year)`, unitsA, procA, yearA)
	if err != nil {
		return err
	}
	var (
		unit     string
		proc, yr int32
		nb, pb   []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&unit, &proc, &yr, &nb, &pb}, func() error {
		c := counts[feeYearKey{unit, provinces[unit], int(proc), int(yr)}]
		var old [2]yearCounts
		old[0].decode(nb)
		old[1].decode(pb)
		for i := range old[0] {
			c[0][i] += old[0][i]
			c[1][i] += old[1][i]
		}
		return nil
	})
	if err != nil {
		return err
	}
	nCounts, pCounts, nBits, pBits := make([][]byte, n), make([][]byte, n), make([][]byte, n), make([][]byte, n)
	for i, k := range keys {
		c := counts[k]
		var nb, pb yearBits
		nCounts[i], nb = c[0].encode()
		pCounts[i], pb = c[1].encode()
		nBits[i], pBits[i] = nb[:], pb[:]
	}
	_, err = tx.Exec(ctx, `INSERT INTO kpi_fee_year (unit_code, procedure_id, year, province_code, n_counts, paid_counts, n_days, paid_days)
		SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::text[], $5::bytea[], $6::bytea[], $7::bytea[], $8::bytea[])
		ON CONFLICT (unit_code, year, procedure_id) DO UPDATE SET n_counts = excluded.n_counts, paid_counts = excluded.paid_counts,
			n_days = excluded.n_days, paid_days = excluded.paid_days`,
		unitsA, procA, yearA, provA, nCounts, pCounts, nBits, pBits)
	if err != nil {
		return fmt.Errorf("update kpi_fee_year: %w", err)
	}
	return nil
}

// rebuildAggregates recomputes the aggregates of units from the stored
// dossiers and documents (used when a procedure's flags change, and by
// tests as the oracle of the maintained aggregates).
func rebuildAggregates(ctx context.Context, tx pgx.Tx, units []string, flags map[int]procFlags) error {
	for _, t := range []string{"kpi_daily", "kpi_monthly", "kpi_fee_year"} {
		if _, err := tx.Exec(ctx, `DELETE FROM `+t+` WHERE unit_code = ANY($1)`, units); err != nil {
			return err
		}
	}
	delta := newAggDelta()
	rows, err := tx.Query(ctx, `SELECT `+dossierCols+dossierFrom+`WHERE d.unit_code = ANY($1)`, units)
	if err != nil {
		return err
	}
	for rows.Next() {
		d, err := scanDossier(rows)
		if err != nil {
			rows.Close()
			return err
		}
		delta.addDossier(d, flags[d.ProcedureID], 1)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	docs, err := queryIncoming(ctx, tx, `WHERE i.unit_code = ANY($1)`, units)
	if err != nil {
		return err
	}
	for i := range docs {
		delta.addIncoming(&docs[i], 1)
	}
	outs, err := queryOutgoing(ctx, tx, `WHERE o.unit_code = ANY($1)`, units)
	if err != nil {
		return err
	}
	for i := range outs {
		delta.addOutgoing(&outs[i], 1)
	}
	return delta.apply(ctx, tx)
}
