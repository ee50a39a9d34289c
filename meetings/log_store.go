package meetings

// The proceedings log's storage: meeting_events, append-only, and the
// meeting's last_seq that says where it ends.

import (
	"context"

	"github.com/jackc/pgx/v5"
)

func insertEvent(ctx context.Context, tx pgx.Tx, meetingID int64, ev *ProcEvent) error {
	var actor *int64
	if ev.Actor != 0 {
		actor = &ev.Actor
	}
	_, err := tx.Exec(ctx, `INSERT INTO meeting_events(meeting_id, seq, at, kind, actor, data) VALUES ($1,$2,$3,$4,$5,$6)`,
		meetingID, ev.Seq, ev.At, ev.Kind, actor, ev.Data)
	return err
}

// setLastSeq records where a meeting's log ends.
func setLastSeq(ctx context.Context, tx pgx.Tx, meetingID, seq int64) error {
	_, err := tx.Exec(ctx, `UPDATE meetings SET last_seq=$2 WHERE id=$1`, meetingID, seq)
	return err
}

func loadEvents(ctx context.Context, q querier, meetingID, after, upto int64) ([]ProcEvent, error) {
	rows, err := q.Query(ctx, `SELECT seq, at, kind, coalesce(actor,0), data FROM meeting_events
		WHERE meeting_id=$1 AND seq > $2 AND seq <= $3 ORDER BY seq`, meetingID, after, upto)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanEvent)
}

// scanEvent reads data as the bytes stored: a json.RawMessage scanned by
// pgx would go through json.Unmarshal.
func scanEvent(row pgx.CollectableRow) (ProcEvent, error) {
	var ev ProcEvent
	err := row.Scan(&ev.Seq, &ev.At, &ev.Kind, &ev.Actor, (*[]byte)(&ev.Data))
	return ev, err
}
