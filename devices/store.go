package devices

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/communehub/communehub/hub"
)

const incidentColumns = `id, unit, kind, title, root_device, affected, ups_minutes, opened_at, closed_at`

func scanIncidents(rows pgx.Rows) ([]Incident, error) {
	defer rows.Close()
	var out []Incident
	for rows.Next() {
		var i Incident
		if err := rows.Scan(&i.ID, &i.Unit, &i.Kind, &i.Title, &i.RootDevice, &i.Affected, &i.UPSMinutes, &i.Since, &i.ClosedAt); err != nil {
			return nil, err
		}
		i.RootName = i.RootDevice
		out = append(out, i)
	}
	return out, rows.Err()
}

// queryIncidents lists incidents of unit (all when empty), newest first.
func queryIncidents(ctx context.Context, pool *pgxpool.Pool, unit string, openOnly bool, limit int) ([]Incident, error) {
	rows, err := pool.Query(ctx, `SELECT `+incidentColumns+` FROM incidents
		WHERE ($1 = '' OR unit = $1) AND (NOT $2 OR closed_at IS NULL) ORDER BY opened_at DESC LIMIT $3`, unit, openOnly, limit)
	if err != nil {
		return nil, err
	}
	return scanIncidents(rows)
}

const alarmColumns = `id, unit, device, coalesce(rule_id, 0), metric, severity, state, value, raised_at, cleared_at, acked_by, acked_at, ack_comment`

func scanAlarm(row pgx.Row, a *Alarm) error {
	return row.Scan(&a.ID, &a.Unit, &a.Device, &a.RuleID, &a.Metric, &a.Severity, &a.State, &a.Value, &a.Since,
		&a.ClearedAt, &a.AckedBy, &a.AckedAt, &a.AckComment)
}

// queryAlarms lists alarms: state "active" (either active state), "all",
// or one exact state.
func queryAlarms(ctx context.Context, pool *pgxpool.Pool, unit, state string, limit int) ([]Alarm, error) {
	rows, err := pool.Query(ctx, `SELECT `+alarmColumns+` FROM alarms
		WHERE ($1 = '' OR unit = $1)
		  AND ($2 = 'all' OR ($2 = 'active' AND state <> 'cleared') OR state = $2)
		ORDER BY raised_at DESC LIMIT $3`, unit, state, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Alarm
	for rows.Next() {
		var a Alarm
		if err := scanAlarm(rows, &a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ackAlarm records who acknowledged an alarm, when and why.
func ackAlarm(ctx context.Context, pool *pgxpool.Pool, id, by, comment string) (Alarm, error) {
	var a Alarm
	err := scanAlarm(pool.QueryRow(ctx, `UPDATE alarms SET acked_by=$2, acked_at=now(), ack_comment=$3,
			state = CASE WHEN state = 'active_unack' THEN 'active_ack' ELSE state END
		WHERE id=$1 AND acked_at IS NULL RETURNING `+alarmColumns, id, by, comment), &a)
	if errors.Is(err, pgx.ErrNoRows) {
		var exists bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS(SELECT 1 FROM alarms WHERE id=$1)`, id).Scan(&exists); err != nil {
			return a, err
		}
		if exists {
			return a, hub.Errorf(hub.EConflict, "alarm %s is already acknowledged", id)
		}
		return a, hub.Errorf(hub.ENotFound, "no alarm %s", id)
	}
	return a, err
}

func queryRules(ctx context.Context, pool *pgxpool.Pool) ([]Rule, error) {
	rows, err := pool.Query(ctx, `SELECT id, unit, device, kind, metric, op, threshold, clear_threshold, for_s, severity, enabled
		FROM alarm_rules ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Rule])
}

func insertRule(ctx context.Context, pool *pgxpool.Pool, r Rule) (Rule, error) {
	err := pool.QueryRow(ctx, `INSERT INTO alarm_rules(unit, device, kind, metric, op, threshold, clear_threshold, for_s, severity, enabled)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING id`, r.Unit, r.Device, r.Kind, r.Metric, r.Op, r.Threshold,
		r.ClearThreshold, r.ForS, r.Severity, r.Enabled).Scan(&r.ID)
	return r, err
}

func deleteRule(ctx context.Context, pool *pgxpool.Pool, id int64) error {
	tag, err := pool.Exec(ctx, `DELETE FROM alarm_rules WHERE id=$1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		return hub.Errorf(hub.ENotFound, "no alarm rule %d", id)
	}
	return err
}

// queryWindows lists maintenance windows of unit not yet over at now.
func queryWindows(ctx context.Context, pool *pgxpool.Pool, unit string, now time.Time) ([]Window, error) {
	rows, err := pool.Query(ctx, `SELECT id, unit, device, starts_at, ends_at, reason, created_by FROM maintenance_windows
		WHERE ($1 = '' OR unit = $1) AND ends_at > $2 ORDER BY starts_at`, unit, now)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Window])
}

func insertWindow(ctx context.Context, pool *pgxpool.Pool, w Window) (Window, error) {
	err := pool.QueryRow(ctx, `INSERT INTO maintenance_windows(unit, device, starts_at, ends_at, reason, created_by)
		VALUES ($1,$2,$3,$4,$5,$6) RETURNING id`, w.Unit, w.Device, w.StartsAt, w.EndsAt, w.Reason, w.CreatedBy).Scan(&w.ID)
	return w, err
}

// Point is one step of a downsampled series.
type Point struct {
	T   time.Time `json:"t"`
	Avg float64   `json:"avg"`
	Min float64   `json:"min"`
	Max float64   `json:"max"`
	N   int64     `json:"n"`
}

// querySeries downsamples metric of one device into steps: from the raw
// table for steps under an hour within raw retention, else from the hourly
// rollups.
func querySeries(ctx context.Context, pool *pgxpool.Pool, unit, device, metric string, from, to time.Time, step time.Duration, rawFrom time.Time) ([]Point, string, error) {
	var rows pgx.Rows
	var err error
	source := "raw"
	if step >= time.Hour || from.Before(rawFrom) {
		source = "hourly"
		if step < time.Hour {
			step = time.Hour
		}
		rows, err = pool.Query(ctx, `SELECT date_bin($5::interval, hour, $3) AS b, sum(sum)/sum(n), min(min), max(max), sum(n)
			FROM telemetry_hourly WHERE unit=$1 AND device=$2 AND hour >= $3 AND hour < $4 AND metric=$6
			GROUP BY b ORDER BY b`, unit, device, from, to, step.String(), metric)
	} else {
		rows, err = pool.Query(ctx, `SELECT date_bin($5::interval, ts, $3) AS b, avg(v), min(v), max(v), count(*)
			FROM (SELECT ts, (metrics->>$6)::float8 AS v FROM telemetry
			      WHERE unit=$1 AND device=$2 AND ts >= $3 AND ts < $4 AND metrics ? $6) t
			GROUP BY b ORDER BY b`, unit, device, from, to, step.String(), metric)
	}
	if err != nil {
		return nil, source, err
	}
	pts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Point, error) {
		var p Point
		err := r.Scan(&p.T, &p.Avg, &p.Min, &p.Max, &p.N)
		p.Avg, p.Min, p.Max = roundMetric(p.Avg), roundMetric(p.Min), roundMetric(p.Max)
		return p, err
	})
	return pts, source, err
}

// upkeep creates the coming months' partitions, rolls raw telemetry up
// into hours (re-rolling the last two hours for late data), and applies
// retention by dropping whole monthly partitions and old hourly rows.
func upkeep(ctx context.Context, pool *pgxpool.Pool, now time.Time, raw, hourly time.Duration) error {
	for i := 0; i < 3; i++ {
		if err := ensurePartition(ctx, pool, now.UTC().AddDate(0, i, 0)); err != nil {
			return err
		}
	}
	if err := rollup(ctx, pool, now); err != nil {
		return fmt.Errorf("rollup: %w", err)
	}
	return retention(ctx, pool, now, raw, hourly)
}

func rollup(ctx context.Context, pool *pgxpool.Pool, now time.Time) error {
	var done time.Time
	err := pool.QueryRow(ctx, `SELECT done_until FROM telemetry_rollup WHERE id=1`).Scan(&done)
	if errors.Is(err, pgx.ErrNoRows) {
		err = pool.QueryRow(ctx, `SELECT coalesce(date_trunc('hour', min(ts)), date_trunc('hour', now())) FROM telemetry`).Scan(&done)
	}
	if err != nil {
		return err
	}
	until := now.UTC().Truncate(time.Hour).Add(time.Hour) // includes the current, partial hour
	from := done.Add(-2 * time.Hour)
	for from.Before(until) {
		to := from.Add(24 * time.Hour)
		if to.After(until) {
			to = until
		}
		_, err := pool.Exec(ctx, `INSERT INTO telemetry_hourly(unit, device, metric, hour, n, sum, min, max)
			SELECT unit, device, kv.key, date_trunc('hour', ts), count(*), sum(kv.value::float8), min(kv.value::float8), max(kv.value::float8)
			FROM telemetry, jsonb_each_text(metrics) kv
			WHERE ts >= $1 AND ts < $2 AND jsonb_typeof(metrics -> kv.key) = 'number'
			GROUP BY 1, 2, 3, 4
			ON CONFLICT (unit, device, metric, hour) DO UPDATE SET n=EXCLUDED.n, sum=EXCLUDED.sum, min=EXCLUDED.min, max=EXCLUDED.max`,
			from, to)
		if err != nil {
			return err
		}
		from = to
	}
	done = now.UTC().Truncate(time.Hour)
	_, err = pool.Exec(ctx, `INSERT INTO telemetry_rollup(id, done_until) VALUES (1, $1)
		ON CONFLICT (id) DO UPDATE SET done_until=$1`, done)
	return err
}

func retention(ctx context.Context, pool *pgxpool.Pool, now time.Time, raw, hourly time.Duration) error {
	rows, err := pool.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'telemetry'`)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	cut := now.Add(-raw)
	for _, n := range names {
		month, err := time.Parse("2006_01", strings.TrimPrefix(n, "telemetry_"))
		if err != nil {
			continue
		}
		if month.AddDate(0, 1, 0).Before(cut) { // the whole month is older than retention
			if _, err := pool.Exec(ctx, `DROP TABLE IF EXISTS `+pgx.Identifier{n}.Sanitize()); err != nil {
				return err
			}
		}
	}
	if _, err = pool.Exec(ctx, `DELETE FROM telemetry_hourly WHERE hour < $1`, now.Add(-hourly)); err != nil {
		return err
	}
	return pruneStatusChanges(ctx, pool, now.Add(-hourly))
}
