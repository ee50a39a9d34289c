package backlog

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Counters of the maintained aggregates (columns of kpi_daily/kpi_monthly).
// Each write adds its new contribution and subtracts its old one.
const (
	cReceived      = iota // dossiers received (status ∉ {1,3}) on the day
	cOnline               // … online (channel 2) and with an e-result when a paper result is required
	cOnlineRaw            // … online (channel 2)
	cDigitized            // … with digitized inputs and an e-result when one is required
	cSynced               // … synced to the national portal
	cFee                  // … of fee-bearing procedures with a fee > 0
	cPaid                 // … of those, paid online
	cClosed               // dossiers closed (7–10) on the day
	cClosedOnTime         // … on time by the Decision 766 rule
	cFinished             // dossiers finished (9, 10) on the day
	cEarly                // … before the deadline's day
	cOnTime               // … on the deadline's day
	cLate                 // … after the deadline's day
	cSeconds              // … total processing seconds (pauses excluded)
	cEResDen              // … of procedures requiring a paper result
	cERes                 // … of those, with an electronic result
	cSatisfied            // … not late and without a negative rating
	cDIn                  // incoming documents received on the day
	cDInElectronic        // … electronic
	cDUrgentLate          // … urgent and presented after the end of the receipt's working day
	cDDoneDL              // incoming documents completed on the day that had a deadline
	cDDoneOnTime          // … completed by it
	cDOut                 // outgoing documents issued on the day
	cDOutSigned           // … with both digital signatures
	nCounters
)

var counterColumns = [nCounters]string{
	"received", "r_online", "r_online_raw", "r_digitized", "r_synced", "r_fee", "r_paid",
	"closed", "closed_on_time", "finished", "f_early", "f_on_time", "f_late", "f_seconds",
	"f_eres_den", "f_eres", "f_satisfied",
	"d_in", "d_in_electronic", "d_urgent_late", "d_done_dl", "d_done_on_time", "d_out", "d_out_signed",
}

type counters [nCounters]int64

type aggKey struct {
	Unit, Province string
	Day            dayKey
}

type feeKey struct {
	Unit, Province string
	Procedure      int
	Day            dayKey
}

// aggDelta accumulates contribution changes before they are written.
type aggDelta struct {
	days map[aggKey]*counters
	fees map[feeKey]*[2]int64
}

func newAggDelta() *aggDelta {
	return &aggDelta{days: map[aggKey]*counters{}, fees: map[feeKey]*[2]int64{}}
}

func (a *aggDelta) at(unit, province string, t time.Time) *counters {
	k := aggKey{unit, province, keyOf(t)}
	c := a.days[k]
	if c == nil {
		c = &counters{}
		a.days[k] = c
	}
	return c
}

// procFlags are the catalogue facts a dossier's contribution depends on.
type procFlags struct {
	HasFee, RequiresPaperResult bool
}

// dossierOnTime reports whether a closed dossier ended on time by the
// Decision 766 rule: end (pauses credited) ≤ deadline, at most one
// supplement request.
func dossierOnTime(d *Dossier) bool {
	return d.EndAt != nil && d.Deadline != nil && d.SupplementCount <= 1 && !d.EndAt.After(*d.Deadline)
}

// finishClass compares the Vietnam calendar days of end and deadline:
// -1 early, 0 on time, 1 late.
func finishClass(end, deadline time.Time) int {
	e, dl := keyOf(end), keyOf(deadline)
	switch {
	case e < dl:
		return -1
	case e == dl:
		return 0
	}
	return 1
}

// addDossier adds sign × the dossier's contribution.
func (a *aggDelta) addDossier(d *Dossier, p procFlags, sign int64) {
	if d == nil || d.State() == 0 || d.ReceivedAt == nil {
		return
	}
	c := a.at(d.Unit, d.Province, *d.ReceivedAt)
	c[cReceived] += sign
	if d.Channel == 2 {
		c[cOnlineRaw] += sign
		if !p.RequiresPaperResult || d.EResult {
			c[cOnline] += sign
		}
	}
	if d.Digitized && (d.EResult || !p.RequiresPaperResult) {
		c[cDigitized] += sign
	}
	if d.SyncedAt != nil {
		c[cSynced] += sign
	}
	if p.HasFee && d.FeeTotal > 0 {
		c[cFee] += sign
		if d.PaidOnline > 0 {
			c[cPaid] += sign
		}
	}
	if p.HasFee {
		k := feeKey{d.Unit, d.Province, d.ProcedureID, keyOf(*d.ReceivedAt)}
		f := a.fees[k]
		if f == nil {
			f = &[2]int64{}
			a.fees[k] = f
		}
		f[0] += sign
		if d.PaidOnline > 0 {
			f[1] += sign
		}
	}
	if d.State() != 2 || d.ClosedAt == nil || d.EndAt == nil || d.Deadline == nil {
		return
	}
	c = a.at(d.Unit, d.Province, *d.ClosedAt)
	c[cClosed] += sign
	if dossierOnTime(d) {
		c[cClosedOnTime] += sign
	}
	if !isFinished(d.Status) {
		return
	}
	c[cFinished] += sign
	class := finishClass(*d.EndAt, *d.Deadline)
	switch class {
	case -1:
		c[cEarly] += sign
	case 0:
		c[cOnTime] += sign
	default:
		c[cLate] += sign
	}
	c[cSeconds] += sign * processingSeconds(d)
	if p.RequiresPaperResult {
		c[cEResDen] += sign
		if d.EResult {
			c[cERes] += sign
		}
	}
	if class <= 0 && !d.Negative {
		c[cSatisfied] += sign
	}
}

// processingSeconds is end (pauses credited) minus reception, never negative.
func processingSeconds(d *Dossier) int64 {
	s := int64(d.EndAt.Sub(*d.ReceivedAt)/time.Second) - d.PauseCredit
	return max(s, 0)
}

// addIncoming adds sign × an incoming document's contribution.
func (a *aggDelta) addIncoming(doc *IncomingDoc, sign int64) {
	if doc == nil {
		return
	}
	c := a.at(doc.Unit, doc.Province, doc.ReceivedAt)
	c[cDIn] += sign
	if doc.Medium == "electronic" {
		c[cDInElectronic] += sign
	}
	if doc.UrgentDeadline != nil && doc.PresentedAt != nil && doc.PresentedAt.After(*doc.UrgentDeadline) {
		c[cDUrgentLate] += sign
	}
	if doc.Status == DocDone && doc.CompletedAt != nil && doc.Deadline != nil {
		c = a.at(doc.Unit, doc.Province, *doc.CompletedAt)
		c[cDDoneDL] += sign
		if !doc.CompletedAt.After(*doc.Deadline) {
			c[cDDoneOnTime] += sign
		}
	}
}

// addOutgoing adds sign × an outgoing document's contribution.
func (a *aggDelta) addOutgoing(o *OutgoingDoc, sign int64) {
	c := a.at(o.Unit, o.Province, o.IssuedAt)
	c[cDOut] += sign
	if o.SignedPersonal && o.SignedOrg {
		c[cDOutSigned] += sign
	}
}

// units returns the communes touched, with their provinces.
func (a *aggDelta) units() map[string]string {
	out := map[string]string{}
	for k := range a.days {
		out[k.Unit] = k.Province
	}
	for k := range a.fees {
		out[k.Unit] = k.Province
	}
	return out
}

func dayOf(k dayKey) time.Time {
	return time.Date(int(k)/10000, time.Month(int(k)/100%100), int(k)%100, 0, 0, 0, 0, time.UTC)
}

func monthOf(k dayKey) dayKey { return k/100*100 + 1 }

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
