package backlog

// The incoming documents' storage: the documents, their assignments and
// history, and the registers (doc_books) both directions take numbers from.

import (
	"context"
	"fmt"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/jackc/pgx/v5"
)

const incomingCols = `i.id, i.unit_code, i.province_code, i.agency_code, i.book_id, b.name, b.year, i.number, i.received_at, i.registered_at,
	i.reference, to_char(i.doc_date, 'YYYY-MM-DD'), i.doc_type, i.issuer, i.subject, i.urgency, i.secrecy, i.medium, i.status,
	i.deadline, i.urgent_deadline, i.directive, i.presented_at, i.completed_at, i.ended_at, i.created_at, i.updated_at`

func queryIncoming(ctx context.Context, db dbtx, where string, args ...any) ([]IncomingDoc, error) {
	rows, err := db.Query(ctx, `SELECT `+incomingCols+` FROM incoming_docs i LEFT JOIN doc_books b ON b.id = i.book_id `+where, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (IncomingDoc, error) {
		var d IncomingDoc
		err := r.Scan(&d.ID, &d.Unit, &d.Province, &d.Agency, &d.bookID, &d.Book, &d.Year, &d.Number, &d.ReceivedAt, &d.RegisteredAt,
			&d.Reference, &d.DocDate, &d.DocType, &d.Issuer, &d.Subject, &d.Urgency, &d.Secrecy, &d.Medium, &d.Status,
			&d.Deadline, &d.UrgentDeadline, &d.Directive, &d.PresentedAt, &d.CompletedAt, &d.EndedAt, &d.CreatedAt, &d.UpdatedAt)
		return d, err
	})
}

// insertIncoming stores a new document and sets its id and timestamps.
func insertIncoming(ctx context.Context, tx pgx.Tx, d *IncomingDoc) error {
	return tx.QueryRow(ctx, `INSERT INTO incoming_docs (unit_code, province_code, agency_code, book_id, number, received_at,
			registered_at, reference, doc_date, doc_type, issuer, subject, urgency, secrecy, medium, status, deadline,
			urgent_deadline, directive) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)
			RETURNING id, created_at, updated_at`,
		d.Unit, d.Province, d.Agency, bookIDOf(d), d.Number, d.ReceivedAt, d.RegisteredAt, d.Reference, d.DocDate, d.DocType,
		d.Issuer, d.Subject, d.Urgency, d.Secrecy, d.Medium, d.Status, d.Deadline, d.UrgentDeadline, d.Directive).
		Scan(&d.ID, &d.CreatedAt, &d.UpdatedAt)
}

func bookIDOf(d *IncomingDoc) *int { return d.bookID }

// setIncomingPresented writes what the first assignments of a new
// document set: its presentation and its deadline.
func setIncomingPresented(ctx context.Context, tx pgx.Tx, d *IncomingDoc) error {
	_, err := tx.Exec(ctx, `UPDATE incoming_docs SET presented_at=$2, deadline=$3 WHERE id=$1`, d.ID, d.PresentedAt, d.Deadline)
	return err
}

// incomingProvince returns a document's province; pgx.ErrNoRows when
// there is no such document.
func incomingProvince(ctx context.Context, tx pgx.Tx, id int64) (string, error) {
	var province string
	err := tx.QueryRow(ctx, `SELECT province_code FROM incoming_docs WHERE id=$1`, id).Scan(&province)
	return province, err
}

// updateIncoming writes what a patch may change.
func updateIncoming(ctx context.Context, tx pgx.Tx, d *IncomingDoc) error {
	_, err := tx.Exec(ctx, `UPDATE incoming_docs SET book_id=$2, number=$3, registered_at=$4, status=$5, deadline=$6, directive=$7,
			presented_at=$8, completed_at=$9, ended_at=$10, updated_at=now() WHERE id=$1`,
		d.ID, d.bookID, d.Number, d.RegisteredAt, d.Status, d.Deadline, d.Directive, d.PresentedAt, d.CompletedAt, d.EndedAt)
	return err
}

// insertAssignment stores an assignment of document docID and sets its id.
func insertAssignment(ctx context.Context, tx pgx.Tx, docID int64, a *Assignment) error {
	return tx.QueryRow(ctx, `INSERT INTO doc_assignments (doc_id, assignee, role, due_at, assigned_at, assigned_by)
			VALUES ($1,$2,$3,$4,$5,$6) RETURNING id`, docID, a.Assignee, a.Role, a.DueAt, a.AssignedAt, a.AssignedBy).Scan(&a.ID)
}

// finishAssignment marks an open assignment of document docID done and
// reports whether there was one.
func finishAssignment(ctx context.Context, tx pgx.Tx, docID, id int64, now time.Time) (bool, error) {
	tag, err := tx.Exec(ctx, `UPDATE doc_assignments SET done_at=$3 WHERE id=$1 AND doc_id=$2 AND done_at IS NULL`, id, docID, now)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() > 0, nil
}

// listAssignments returns a document's assignments, oldest first.
func listAssignments(ctx context.Context, db dbtx, docID int64) ([]Assignment, error) {
	rows, err := db.Query(ctx, `SELECT id, assignee, role, due_at, assigned_at, assigned_by, done_at FROM doc_assignments
		WHERE doc_id=$1 ORDER BY id`, docID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByName[Assignment])
}

func docEvent(ctx context.Context, tx pgx.Tx, id int64, kind, from, to, actor string, changes map[string]any) error {
	var fromP, toP *string
	if from != "" {
		fromP = &from
	}
	if to != "" {
		toP = &to
	}
	_, err := tx.Exec(ctx, `INSERT INTO doc_events (doc_id, kind, from_status, to_status, actor, changes) VALUES ($1,$2,$3,$4,$5,$6)`,
		id, kind, fromP, toP, actor, changes)
	return err
}

// takeNumber returns the next number of a book (creating the book), under
// the book row's lock: a rollback gives the number back, so numbers run
// without gaps or repeats. want, when set, must be that next number.
func takeNumber(ctx context.Context, tx pgx.Tx, unit, direction, book string, year int, secret bool, want *int, field string) (bookID, number int, err error) {
	if _, err := tx.Exec(ctx, `INSERT INTO doc_books (unit_code, direction, name, year, secret) VALUES ($1,$2,$3,$4,$5)
		ON CONFLICT (unit_code, direction, name, year) DO NOTHING`, unit, direction, book, year, secret); err != nil {
		return 0, 0, err
	}
	if err := tx.QueryRow(ctx, `UPDATE doc_books SET last_number = last_number + 1
		WHERE unit_code=$1 AND direction=$2 AND name=$3 AND year=$4 RETURNING id, last_number`,
		unit, direction, book, year).Scan(&bookID, &number); err != nil {
		return 0, 0, err
	}
	if want != nil && *want != number {
		if *want < number {
			return 0, 0, &hub.Error{Code: hub.EConflict, Field: field,
				Message: fmt.Sprintf("number %d is already used in book %q of %d; the next number is %d", *want, book, year, number)}
		}
		return 0, 0, unprocessable(field, "number %d would leave a gap in book %q of %d; the next number is %d", *want, book, year, number)
	}
	return bookID, number, nil
}
