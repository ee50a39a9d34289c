package backlog

// The agencies' storage.

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// upsertAgency creates or replaces a and sets its updated_at.
func upsertAgency(ctx context.Context, db dbtx, a *Agency) error {
	return db.QueryRow(ctx, `INSERT INTO agencies (code, name, unit_code, kind) VALUES ($1,$2,$3,$4)
		ON CONFLICT (code) DO UPDATE SET name=excluded.name, unit_code=excluded.unit_code, kind=excluded.kind, updated_at=now()
		RETURNING updated_at`, a.Code, a.Name, a.Unit, a.Kind).Scan(&a.UpdatedAt)
}

// listAgencies lists agencies, of one unit when unit is set.
func listAgencies(ctx context.Context, db dbtx, unit string) ([]Agency, error) {
	rows, err := db.Query(ctx, `SELECT code, name, unit_code, kind, updated_at FROM agencies
		WHERE $1 = '' OR unit_code = $1 ORDER BY code`, unit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Agency])
}

// agencyExists reports whether an agency with code is stored.
func agencyExists(ctx context.Context, db dbtx, code string) (bool, error) {
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM agencies WHERE code=$1`, code).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}
