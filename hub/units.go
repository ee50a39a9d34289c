package hub

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/csv"
	"fmt"
	"io"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The 2025 administrative units (34 provinces, 3,321 communes) and the old→new
// lineage, shipped inside the binary; see docs/architecture.md for the source.
var (
	//go:embed data/units-2025-07.csv
	unitsCSV []byte
	//go:embed data/lineage-2025-07.csv
	lineageCSV []byte
)

// unitsValidFrom is when the two-tier units took effect.
const unitsValidFrom = "2025-07-01"

// Unit is an administrative unit (province or commune).
type Unit struct {
	Code       string  `json:"code"`
	Name       string  `json:"name"`
	Level      string  `json:"level"`
	Kind       string  `json:"kind"`
	ParentCode *string `json:"parent_code"`
}

// SeedUnits loads the embedded units and lineage when the table is empty
// (idempotent; run at start after migrations).
func SeedUnits(ctx context.Context, pool *pgxpool.Pool) error {
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM admin_units`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	units, err := readCSV(unitsCSV, 4)
	if err != nil {
		return fmt.Errorf("units csv: %w", err)
	}
	lineage, err := readCSV(lineageCSV, 7)
	if err != nil {
		return fmt.Errorf("lineage csv: %w", err)
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// A concurrent starter may be seeding too: serialise on the table.
		if _, err := tx.Exec(ctx, `LOCK TABLE admin_units IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM admin_units`).Scan(&n); err != nil || n > 0 {
			return err
		}
		rows := make([][]any, 0, len(units))
		for _, r := range units {
			level := "commune"
			var parent any = r[3]
			if len(r[0]) == 2 {
				level, parent = "province", nil
			}
			rows = append(rows, []any{r[0], r[1], level, r[2], parent, unitsValidFrom})
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"admin_units"},
			[]string{"code", "name", "level", "kind", "parent_code", "valid_from"}, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		seen := map[string]bool{}
		lrows := make([][]any, 0, len(lineage))
		for _, r := range lineage {
			key := r[0] + "|" + r[2] + "|" + r[3]
			if seen[key] {
				continue
			}
			seen[key] = true
			lrows = append(lrows, []any{r[0], r[1], r[2], r[3], strings.Contains(r[4], "toàn bộ"), r[5], r[6], unitsValidFrom})
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"admin_unit_lineage"},
			[]string{"new_code", "new_name", "old_code", "old_name", "whole", "old_district", "old_province", "effective"}, pgx.CopyFromRows(lrows))
		return err
	})
}

func readCSV(b []byte, cols int) ([][]string, error) {
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = cols
	if _, err := r.Read(); err != nil { // header
		return nil, err
	}
	var out [][]string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
}

// Units reads administrative units.
type Units struct{ pool *pgxpool.Pool }

// NewUnits returns a Units reader.
func NewUnits(pool *pgxpool.Pool) *Units { return &Units{pool: pool} }

// Get returns the current unit with code, or ENotFound.
func (u *Units) Get(ctx context.Context, code string) (Unit, error) {
	rows, err := u.pool.Query(ctx, `SELECT code, name, level, kind, parent_code FROM admin_units
		WHERE code=$1 AND valid_to IS NULL`, code)
	if err != nil {
		return Unit{}, err
	}
	unit, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Unit])
	if err == pgx.ErrNoRows {
		return Unit{}, Errorf(ENotFound, "no administrative unit %q", code)
	}
	return unit, err
}

// List returns current units: the provinces when parent is empty, else the
// communes of province parent, ordered by code.
func (u *Units) List(ctx context.Context, parent string) ([]Unit, error) {
	var rows pgx.Rows
	var err error
	if parent == "" {
		rows, err = u.pool.Query(ctx, `SELECT code, name, level, kind, parent_code FROM admin_units
			WHERE level='province' AND valid_to IS NULL ORDER BY code`)
	} else {
		rows, err = u.pool.Query(ctx, `SELECT code, name, level, kind, parent_code FROM admin_units
			WHERE parent_code=$1 AND valid_to IS NULL ORDER BY code`, parent)
	}
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByName[Unit])
}

// Successor returns the current commune that old commune code was merged
// into (the code itself when it is current), for rolling up history.
func (u *Units) Successor(ctx context.Context, oldCode string) (string, error) {
	if _, err := u.Get(ctx, oldCode); err == nil {
		return oldCode, nil
	}
	var code string
	err := u.pool.QueryRow(ctx, `SELECT new_code FROM admin_unit_lineage WHERE old_code=$1 ORDER BY whole DESC LIMIT 1`, oldCode).Scan(&code)
	if err == pgx.ErrNoRows {
		return "", Errorf(ENotFound, "no administrative unit %q", oldCode)
	}
	return code, err
}

func (u *Units) handleList(c *fiber.Ctx) error {
	parent := c.Query("parent")
	if parent != "" {
		if _, err := u.Get(c.UserContext(), parent); err != nil {
			return &Error{Code: ENotFound, Field: "parent", Message: fmt.Sprintf("no administrative unit %q", parent)}
		}
	}
	list, err := u.List(c.UserContext(), parent)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"units": list})
}

func (u *Units) handleGet(c *fiber.Ctx) error {
	unit, err := u.Get(c.UserContext(), c.Params("code"))
	if err != nil {
		return err
	}
	return c.JSON(unit)
}
