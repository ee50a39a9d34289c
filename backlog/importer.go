package backlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/jackc/pgx/v5"
)

// ImportOptions control an import.
type ImportOptions struct {
	Format string // csv, jsonl or "" to sniff
	Atomic bool   // commit nothing when any row is bad
	Actor  string
	Source string // recorded in the history: import (API) or cli
	// Progress, when set, is called as the import advances: stage is
	// "read", "check", "write" or "publish"; done counts rows.
	Progress func(stage string, done, total int)
}

// RowError is one rejected row of an import.
type RowError struct {
	Row    int    `json:"row"`            // record number, 1-based (CSV header excluded)
	Line   int    `json:"line,omitempty"` // line of the file
	Code   string `json:"code,omitempty"` // MaHoSo, when known
	Field  string `json:"field"`
	Error  string `json:"error"` // invalid, unprocessable, conflict
	Reason string `json:"reason"`
}

// ImportReport is the result of an import: per-row errors and what
// committed. Good rows commit together, or nothing does (atomic, or a
// failure of the database).
type ImportReport struct {
	Rows            int        `json:"rows"`
	Created         int        `json:"created"`
	Updated         int        `json:"updated"`
	Unchanged       int        `json:"unchanged"`
	Rejected        int        `json:"rejected"`
	Atomic          bool       `json:"atomic"`
	Committed       bool       `json:"committed"`
	Seconds         float64    `json:"seconds"`
	Errors          []RowError `json:"errors"`
	ErrorsTruncated bool       `json:"errors_truncated"`
}

// maxReportedErrors bounds the errors listed in a report (all are counted).
const maxReportedErrors = 1000

func (rep *ImportReport) reject(row, line int, code string, err error) {
	rep.Rejected++
	if len(rep.Errors) >= maxReportedErrors {
		rep.ErrorsTruncated = true
		return
	}
	re := RowError{Row: row, Line: line, Code: code, Field: "row", Error: hub.EInvalid, Reason: err.Error()}
	var he *hub.Error
	if errors.As(err, &he) {
		re.Error, re.Reason = he.Code, he.Message
		if he.Field != "" {
			re.Field = he.Field
		}
	}
	rep.Errors = append(rep.Errors, re)
}

type importRow struct {
	row, line int
	rec       *PortalRecord
	proc      *Procedure
	unit      unitInfo
}

// maxImportRows bounds one file.
const maxImportRows = 2_000_000

// Import reads a CSV or JSON-lines file of dossiers and applies it in one
// transaction. A fatal format error (broken header or quoting) returns a
// 400 and changes nothing; row errors are listed in the report.
func (s *Service) Import(ctx context.Context, r io.Reader, o ImportOptions) (*ImportReport, error) {
	start := time.Now()
	if o.Progress == nil {
		o.Progress = func(string, int, int) {}
	}
	if o.Source == "" {
		o.Source = "import"
	}
	rep := &ImportReport{Atomic: o.Atomic, Errors: []RowError{}}
	rr, err := newRowReader(r, o.Format)
	if err != nil {
		return nil, err
	}
	var raws []rawRow
	for {
		raw, err := rr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(raws) >= maxImportRows {
			return nil, hub.Errorf(hub.ETooLarge, "more than %d rows: split the file", maxImportRows)
		}
		raws = append(raws, raw)
		if len(raws)%20000 == 0 {
			o.Progress("read", len(raws), 0)
		}
	}
	rep.Rows = len(raws)
	recs := parseRows(raws)
	if err := s.procs.load(ctx, s.pool); err != nil { // another instance may have added procedures
		return nil, err
	}
	var rows []importRow
	for i := range raws {
		raw, rec := &raws[i], recs[i]
		if raw.Err != nil {
			rep.reject(raw.Row, raw.Line, raw.Fields["MaHoSo"], raw.Err)
			continue
		}
		if rec.Code == "" {
			rep.reject(raw.Row, raw.Line, "", hub.FieldError("MaHoSo", "is required"))
			continue
		}
		proc := s.procs.get(rec.ProcedureCode)
		if proc == nil {
			rep.reject(raw.Row, raw.Line, rec.Code, unprocessable("MaTTHC", "unknown procedure %q", rec.ProcedureCode))
			continue
		}
		unit, err := s.units.resolveCommune(rec.Unit)
		if err != nil {
			rep.reject(raw.Row, raw.Line, rec.Code, err)
			continue
		}
		rows = append(rows, importRow{row: raw.Row, line: raw.Line, rec: rec, proc: proc, unit: unit})
	}
	raws = nil
	o.Progress("read", rep.Rows, rep.Rows)
	if rep.Rows == 0 {
		return nil, hub.FieldError("body", "the file has no rows")
	}
	for attempt := 0; ; attempt++ {
		err = s.importTx(ctx, rows, rep, o)
		if (errors.Is(err, errRetry) || isRetryable(err)) && attempt < 3 {
			rep.Created, rep.Updated, rep.Unchanged = 0, 0, 0
			rep.Errors, rep.Rejected = rep.Errors[:0], 0
			continue
		}
		break
	}
	rep.Seconds = time.Since(start).Seconds()
	// Rows rejected while reading come first; list every error in row order.
	slices.SortStableFunc(rep.Errors, func(a, b RowError) int { return a.Row - b.Row })
	if errors.Is(err, errAtomicAbort) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	for _, k := range []struct {
		n   int
		res string
	}{{rep.Created, "created"}, {rep.Updated, "updated"}, {rep.Unchanged, "unchanged"}, {rep.Rejected, "rejected"}} {
		s.metrics.importRows.WithLabelValues(k.res).Add(float64(k.n))
	}
	if rep.Committed {
		s.poke()
	}
	return rep, nil
}

var errAtomicAbort = errors.New("backlog: atomic import with bad rows")

func (s *Service) importTx(ctx context.Context, rows []importRow, rep *ImportReport, o ImportOptions) error {
	// Rows rejected before the transaction stay rejected on a retry.
	preRejected, preErrors := rep.Rejected, slices.Clone(rep.Errors)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rep.Rejected, rep.Errors = preRejected, slices.Clone(preErrors)
		codes := make([]string, 0, len(rows))
		seen := map[string]bool{}
		provinces := map[string]bool{}
		for _, r := range rows {
			if !seen[r.rec.Code] {
				seen[r.rec.Code] = true
				codes = append(codes, r.rec.Code)
			}
			provinces[r.unit.Province] = true
		}
		oldProv, err := existingProvinces(ctx, tx, codes)
		if err != nil {
			return err
		}
		for _, p := range oldProv {
			provinces[p] = true
		}
		if err := s.lockProvinces(ctx, tx, keys(provinces)); err != nil {
			return err
		}
		current, err := loadDossiers(ctx, tx, codes)
		if err != nil {
			return err
		}
		for _, d := range current {
			if !provinces[d.Province] {
				return errRetry
			}
		}
		o.Progress("check", 0, len(rows))
		stored := map[string]*Dossier{} // code → the version in the database
		for c, d := range current {
			stored[c] = d
		}
		// Dossiers are built in file order by one goroutine while the
		// new ones stream into COPY, so PostgreSQL writes while Go checks.
		// A rollback (atomic mode with a bad row, or any failure) undoes it.
		b := &importBuild{s: s, o: o, rows: rows, rep: rep, current: current, stored: stored,
			inserts: make(chan *Dossier, 4096), stop: make(chan struct{}), ids: &idBlock{pool: s.pool}}
		done := make(chan struct{})
		go func() { defer close(done); b.run(ctx) }()
		err = copyDossiers(ctx, tx, b)
		close(b.stop)
		<-done
		if err != nil {
			return fmt.Errorf("copy new dossiers: %w", err)
		}
		if b.err != nil {
			return b.err
		}
		o.Progress("check", len(rows), len(rows))
		if o.Atomic && rep.Rejected > 0 {
			rep.Created, rep.Updated, rep.Unchanged = 0, 0, 0
			return errAtomicAbort
		}
		if len(b.events) == 0 {
			rep.Committed = true
			return nil
		}
		o.Progress("write", 0, len(b.events))
		if err := writeImported(ctx, tx, current, b.updates, b.events); err != nil {
			return err
		}
		o.Progress("write", len(b.events), len(b.events))
		tAgg := time.Now()
		if err := b.delta.apply(ctx, tx); err != nil {
			return err
		}
		o.Progress("publish", 0, len(b.affected))
		tPub := time.Now()
		if err := s.publish(ctx, tx, b.affected); err != nil {
			return err
		}
		o.Progress("publish", len(b.affected), len(b.affected))
		s.log.Info("import written", "rows", len(rows), "changes", len(b.events), "aggregates", time.Since(tAgg)-time.Since(tPub),
			"snapshots", time.Since(tPub), "communes", len(b.affected))
		rep.Committed = true
		return nil
	})
}

// parseRows decodes and checks rows on every CPU, keeping their order; a
// row that fails keeps its error in raws[i].Err and a nil record.
func parseRows(raws []rawRow) []*PortalRecord {
	recs := make([]*PortalRecord, len(raws))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(raws)/1000))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(raws); i += workers {
				raw := &raws[i]
				f, err := raw.fields()
				if err != nil {
					continue
				}
				if recs[i], err = parseRecord(f); err != nil {
					raw.Err = err
				}
			}
		}(w)
	}
	wg.Wait()
	return recs
}
