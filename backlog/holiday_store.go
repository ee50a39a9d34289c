package backlog

// The holiday table's storage: the calendar's load, put and delete.

import (
	"context"

	"github.com/jackc/pgx/v5"
)

func listHolidays(ctx context.Context, db dbtx, year int) ([]Holiday, error) {
	rows, err := db.Query(ctx, `SELECT to_char(day, 'YYYY-MM-DD'), name, kind FROM holidays
		WHERE $1 = 0 OR extract(year FROM day) = $1 ORDER BY day`, year)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Holiday])
}

// putHoliday adds or replaces the holiday (or worked day) on day.
func putHoliday(ctx context.Context, db dbtx, day, name, kind string) error {
	_, err := db.Exec(ctx, `INSERT INTO holidays (day, name, kind) VALUES ($1,$2,$3)
		ON CONFLICT (day) DO UPDATE SET name=excluded.name, kind=excluded.kind, updated_at=now()`, day, name, kind)
	return err
}

// deleteHoliday removes day and reports whether it was there.
func deleteHoliday(ctx context.Context, db dbtx, day string) (bool, error) {
	tag, err := db.Exec(ctx, `DELETE FROM holidays WHERE day=$1`, day)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() > 0, nil
}
