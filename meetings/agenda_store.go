package meetings

// The agenda's storage: agenda_items rows.

import (
	"context"

	"github.com/jackc/pgx/v5"
)

func loadAgenda(ctx context.Context, q querier, meetingID int64) ([]AgendaItem, error) {
	rows, err := q.Query(ctx, `SELECT id, position, title, presenter, notes FROM agenda_items
		WHERE meeting_id=$1 ORDER BY position`, meetingID)
	if err != nil {
		return nil, err
	}
	items, err := pgx.CollectRows(rows, pgx.RowToStructByPos[AgendaItem])
	if items == nil {
		items = []AgendaItem{}
	}
	return items, err
}

func setAgendaPosition(ctx context.Context, tx pgx.Tx, itemID int64, position int) error {
	_, err := tx.Exec(ctx, `UPDATE agenda_items SET position=$2 WHERE id=$1`, itemID, position)
	return err
}

// insertAgendaItem stores an item at position and returns its id.
func insertAgendaItem(ctx context.Context, tx pgx.Tx, meetingID int64, position int, in *AgendaInput) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO agenda_items(meeting_id, position, title, presenter, notes)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, meetingID, position, in.Title, in.Presenter, in.Notes).Scan(&id)
	return id, err
}

// updateAgendaItem replaces an item's text (not its position).
func updateAgendaItem(ctx context.Context, tx pgx.Tx, itemID int64, in *AgendaInput) error {
	_, err := tx.Exec(ctx, `UPDATE agenda_items SET title=$2, presenter=$3, notes=$4 WHERE id=$1`,
		itemID, in.Title, in.Presenter, in.Notes)
	return err
}

func deleteAgendaItem(ctx context.Context, tx pgx.Tx, itemID int64) error {
	_, err := tx.Exec(ctx, `DELETE FROM agenda_items WHERE id=$1`, itemID)
	return err
}
