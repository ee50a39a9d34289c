package backlog

import (
	"bytes"
	"context"

	"github.com/jackc/pgx/v5"
)

// importBuild checks an import's rows in file order and hands each new
// dossier's final version to COPY (it is a pgx.CopyFromSource).
type importBuild struct {
	s       *Service
	o       ImportOptions
	rows    []importRow
	rep     *ImportReport
	current map[string]*Dossier // code → latest version (stored, or built from an earlier row)
	stored  map[string]*Dossier // code → the version in the database

	inserts chan *Dossier // new dossiers, final version, id set
	stop    chan struct{} // closed when COPY stops reading
	ids     *idBlock

	// Results, read once run has returned.
	delta    *aggDelta
	affected map[string]string
	events   []*Event
	updates  []*Dossier // changed stored dossiers, final version
	err      error

	next *Dossier // the row COPY reads now
}

func (b *importBuild) run(ctx context.Context) {
	defer close(b.inserts)
	s, rep := b.s, b.rep
	b.delta, b.affected = newAggDelta(), map[string]string{}
	last := map[string]int{}
	for i, r := range b.rows {
		last[r.rec.Code] = i
	}
	dirty := map[string]bool{}
	now := s.now()
	for i, r := range b.rows {
		if i%10000 == 0 && i > 0 {
			b.o.Progress("check", i, len(b.rows))
		}
		code := r.rec.Code
		prev := b.current[code]
		d, err := buildDossier(buildInput{rec: r.rec, old: prev, proc: r.proc, unit: r.unit, cal: s.cal, now: now})
		switch {
		case err != nil:
			rep.reject(r.row, r.line, code, err)
		case prev != nil && bytes.Equal(prev.Fingerprint, d.Fingerprint):
			rep.Unchanged++
		default:
			if prev != nil {
				b.delta.addDossier(prev, s.procs.flags(prev.ProcedureID), -1)
				b.affected[prev.Unit] = prev.Province
			}
			b.delta.addDossier(d, procFlags{HasFee: r.proc.HasFee, RequiresPaperResult: r.proc.RequiresPaperResult}, 1)
			b.affected[d.Unit] = d.Province
			ev := historyEvent(prev, d, b.o.Actor, b.o.Source)
			ev.Code = code
			b.events = append(b.events, ev)
			b.current[code] = d
			dirty[code] = true
			if b.stored[code] == nil && prev == nil {
				rep.Created++
			} else {
				rep.Updated++
			}
		}
		if i != last[code] || !dirty[code] {
			continue
		}
		final := b.current[code]
		if old := b.stored[code]; old != nil {
			final.ID = old.ID
			b.updates = append(b.updates, final)
			continue
		}
		if final.ID, err = b.ids.next(ctx); err != nil {
			b.err = err
			return
		}
		select {
		case b.inserts <- final:
		case <-b.stop:
			return // COPY failed; the transaction rolls back
		}
	}
}

// Next, Values and Err make importBuild a pgx.CopyFromSource.
func (b *importBuild) Next() bool {
	d, ok := <-b.inserts
	b.next = d
	return ok
}

func (b *importBuild) Values() ([]any, error) { return dossierRow(b.next, true), nil }

func (b *importBuild) Err() error { return nil }

// idBlock hands out dossier ids taken from the sequence in blocks, on a
// connection of its own (the transaction's is busy with COPY; sequences
// are not transactional, so a rollback only leaves unused ids).
type idBlock struct {
	pool interface {
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	}
	ids []int64
}

func (b *idBlock) next(ctx context.Context) (int64, error) {
	if len(b.ids) == 0 {
		rows, err := b.pool.Query(ctx, `SELECT nextval('dossiers_id_seq') FROM generate_series(1, 5000)`)
		if err != nil {
			return 0, err
		}
		if b.ids, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
			return 0, err
		}
	}
	id := b.ids[0]
	b.ids = b.ids[1:]
	return id, nil
}
