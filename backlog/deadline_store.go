package backlog

// The deadlines' reads: when a snapshot next changes by time alone, and
// which communes time (or a calendar change) touched. They span dossiers,
// incoming documents and the aggregates.

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// nextDeadlines returns the earliest running dossier deadline from
// handled, the earliest after soon, and the earliest document deadline and
// urgent deadline from handled; nil where there is none.
func nextDeadlines(ctx context.Context, db dbtx, handled, soon time.Time) (dueNext, soonNext, docNext, urgentNext *time.Time, err error) {
	b := &pgx.Batch{}
	b.Queue(`SELECT min(deadline) FROM dossiers WHERE state = 1 AND paused_since IS NULL AND deadline >= $1`, handled).
		QueryRow(func(r pgx.Row) error { return r.Scan(&dueNext) })
	b.Queue(`SELECT min(deadline) FROM dossiers WHERE state = 1 AND paused_since IS NULL AND deadline > $1`, soon).
		QueryRow(func(r pgx.Row) error { return r.Scan(&soonNext) })
	b.Queue(`SELECT min(deadline) FROM incoming_docs WHERE ended_at IS NULL AND deadline >= $1`, handled).
		QueryRow(func(r pgx.Row) error { return r.Scan(&docNext) })
	b.Queue(`SELECT min(urgent_deadline) FROM incoming_docs WHERE ended_at IS NULL AND presented_at IS NULL AND urgent_deadline >= $1`, handled).
		QueryRow(func(r pgx.Row) error { return r.Scan(&urgentNext) })
	err = db.SendBatch(ctx, b).Close()
	return dueNext, soonNext, docNext, urgentNext, err
}

// unitsWithData lists every commune with aggregates, an open dossier or
// an open document (the day turned).
func unitsWithData(ctx context.Context, db dbtx) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT DISTINCT unit_code FROM kpi_monthly
			UNION SELECT DISTINCT unit_code FROM dossiers WHERE state = 1
			UNION SELECT DISTINCT unit_code FROM incoming_docs WHERE ended_at IS NULL`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// unitsCrossed lists the communes with a running deadline in [from, to)
// or entering the due-soon window (soonFrom, soonTo], or a document
// deadline or urgent deadline in [from, to).
func unitsCrossed(ctx context.Context, db dbtx, from, to, soonFrom, soonTo time.Time) ([]string, error) {
	rows, err := db.Query(ctx, `
		SELECT DISTINCT unit_code FROM dossiers WHERE state = 1 AND paused_since IS NULL
			AND ((deadline >= $1 AND deadline < $2) OR (deadline > $3 AND deadline <= $4))
		UNION
		SELECT DISTINCT unit_code FROM incoming_docs WHERE ended_at IS NULL
			AND ((deadline >= $1 AND deadline < $2) OR (presented_at IS NULL AND urgent_deadline >= $1 AND urgent_deadline < $2))`,
		from, to, soonFrom, soonTo)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// unitsWithOpenWork lists the communes with an open dossier or document.
func unitsWithOpenWork(ctx context.Context, db dbtx) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT DISTINCT unit_code FROM dossiers WHERE state = 1
		UNION SELECT DISTINCT unit_code FROM incoming_docs WHERE ended_at IS NULL`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
