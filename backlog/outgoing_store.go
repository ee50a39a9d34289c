package backlog

// The outgoing documents' storage (their numbers come from the registers
// in incoming_store.go).

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// insertOutgoing stores a new document numbered in book bookID and sets
// its id and created_at.
func insertOutgoing(ctx context.Context, tx pgx.Tx, o *OutgoingDoc, bookID int) error {
	return tx.QueryRow(ctx, `INSERT INTO outgoing_docs (unit_code, province_code, agency_code, book_id, number, reference, issued_at,
			doc_type, subject, signer, recipients, urgency, secrecy, medium, signed_personal, signed_org, created_by)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17) RETURNING id, created_at`,
		o.Unit, o.Province, o.Agency, bookID, o.Number, o.Reference, o.IssuedAt, o.DocType, o.Subject, o.Signer, o.Recipients,
		o.Urgency, o.Secrecy, o.Medium, o.SignedPersonal, o.SignedOrg, o.CreatedBy).Scan(&o.ID, &o.CreatedAt)
}

func queryOutgoing(ctx context.Context, db dbtx, where string, args ...any) ([]OutgoingDoc, error) {
	rows, err := db.Query(ctx, `SELECT o.id, o.unit_code, o.province_code, o.agency_code, b.name, b.year, o.number, o.reference,
		o.issued_at, o.doc_type, o.subject, o.signer, o.recipients, o.urgency, o.secrecy, o.medium, o.signed_personal, o.signed_org,
		o.created_by, o.created_at FROM outgoing_docs o JOIN doc_books b ON b.id = o.book_id `+where, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[OutgoingDoc])
}
