package backlog

// The procedures' storage: the catalogue, its versions and the flags a
// dossier's contribution depends on.

import (
	"context"

	"github.com/jackc/pgx/v5"
)

const procedureCols = `id, code, name, field_code, online_level, has_fee, requires_paper_result, deadline_value, deadline_unit, version, updated_at`

func scanProcedure(r pgx.CollectableRow) (Procedure, error) {
	var p Procedure
	err := r.Scan(&p.ID, &p.Code, &p.Name, &p.FieldCode, &p.OnlineLevel, &p.HasFee, &p.RequiresPaperResult,
		&p.Deadline.Value, &p.Deadline.Unit, &p.Version, &p.UpdatedAt)
	return p, err
}

func listProcedures(ctx context.Context, db dbtx) ([]Procedure, error) {
	rows, err := db.Query(ctx, `SELECT `+procedureCols+` FROM procedures ORDER BY code`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanProcedure)
}

// lockProcedure reads a procedure and locks its row; pgx.ErrNoRows when
// there is none.
func lockProcedure(ctx context.Context, tx pgx.Tx, code string) (Procedure, error) {
	rows, err := tx.Query(ctx, `SELECT `+procedureCols+` FROM procedures WHERE code=$1 FOR UPDATE`, code)
	if err != nil {
		return Procedure{}, err
	}
	return pgx.CollectExactlyOneRow(rows, scanProcedure)
}

func insertProcedure(ctx context.Context, tx pgx.Tx, np *Procedure) (Procedure, error) {
	rows, err := tx.Query(ctx, `INSERT INTO procedures (code, name, field_code, online_level, has_fee, requires_paper_result, deadline_value, deadline_unit)
				VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING `+procedureCols,
		np.Code, np.Name, np.FieldCode, np.OnlineLevel, np.HasFee, np.RequiresPaperResult, np.Deadline.Value, np.Deadline.Unit)
	if err != nil {
		return Procedure{}, err
	}
	return pgx.CollectExactlyOneRow(rows, scanProcedure)
}

// updateProcedure replaces procedure id's fields with np's and bumps its
// version.
func updateProcedure(ctx context.Context, tx pgx.Tx, id int, np *Procedure) (Procedure, error) {
	rows, err := tx.Query(ctx, `UPDATE procedures SET name=$2, field_code=$3, online_level=$4, has_fee=$5, requires_paper_result=$6,
			deadline_value=$7, deadline_unit=$8, version=version+1, updated_at=now() WHERE id=$1 RETURNING `+procedureCols,
		id, np.Name, np.FieldCode, np.OnlineLevel, np.HasFee, np.RequiresPaperResult, np.Deadline.Value, np.Deadline.Unit)
	if err != nil {
		return Procedure{}, err
	}
	return pgx.CollectExactlyOneRow(rows, scanProcedure)
}

// unitsWithProcedure returns the communes (code → province) with a
// dossier of the procedure.
func unitsWithProcedure(ctx context.Context, tx pgx.Tx, procID int) (map[string]string, error) {
	rows, err := tx.Query(ctx, `SELECT DISTINCT unit_code, province_code FROM dossiers WHERE procedure_id=$1`, procID)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	var u, p string
	_, err = pgx.ForEachRow(rows, []any{&u, &p}, func() error { out[u] = p; return nil })
	return out, err
}
