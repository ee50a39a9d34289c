package meetings

// What a unit's now/next (commune/{code}/meetings) reads: its open and
// next meetings, its level, the value last written to the outbox, and
// the units with meetings around now.

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// unitMeetings computes a unit's now/next at time now.
func unitMeetings(ctx context.Context, q querier, unit string, now time.Time) (UnitMeetings, error) {
	u := UnitMeetings{Unit: unit}
	var id int64
	var title string
	var at time.Time
	err := q.QueryRow(ctx, `SELECT id, title, opened_at FROM meetings WHERE unit_code=$1 AND state='open'
		ORDER BY opened_at DESC, id DESC LIMIT 1`, unit).Scan(&id, &title, &at)
	switch {
	case err == nil:
		u.Now = &UnitMeeting{ID: id, Title: title, StartedAt: &at}
	case !errors.Is(err, pgx.ErrNoRows):
		return u, err
	}
	err = q.QueryRow(ctx, `SELECT id, title, starts_at FROM meetings WHERE unit_code=$1 AND state='scheduled'
		AND starts_at >= $2 ORDER BY starts_at, id LIMIT 1`, unit, now.Add(-nextWindow)).Scan(&id, &title, &at)
	switch {
	case err == nil:
		u.Next = &UnitMeeting{ID: id, Title: title, StartsAt: &at}
	case !errors.Is(err, pgx.ErrNoRows):
		return u, err
	}
	return u, nil
}

// unitLevel is a unit's level (commune when it is not known).
func unitLevel(ctx context.Context, q querier, unit string) (string, error) {
	var level string
	err := q.QueryRow(ctx, `SELECT coalesce((SELECT level FROM admin_units WHERE code=$1 AND valid_to IS NULL LIMIT 1), 'commune')`,
		unit).Scan(&level)
	return level, err
}

// lastWritten is the data last written to the outbox on topic; nil when
// none was.
func lastWritten(ctx context.Context, q querier, topic string) ([]byte, error) {
	var last []byte
	err := q.QueryRow(ctx, `SELECT data FROM outbox WHERE topic=$1 ORDER BY topic_seq DESC LIMIT 1`, topic).Scan(&last)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	return last, nil
}

// unitsWithMeetings lists the units with an open meeting or one scheduled
// to start in [from, to].
func unitsWithMeetings(ctx context.Context, q querier, from, to time.Time) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT DISTINCT unit_code FROM meetings
		WHERE state='open' OR (state='scheduled' AND starts_at BETWEEN $1 AND $2)`, from, to)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
