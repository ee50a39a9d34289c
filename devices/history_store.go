package devices

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// StatusChange is one change of a device's status, as the device page's
// history shows it.
type StatusChange struct {
	At     time.Time `json:"at"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason,omitempty"` // e.g. "parent sw-core down", "reported offline", "no data for 30s"
}

type statusChangeRow struct {
	unit, device string
	StatusChange
}

// maxPendingChanges bounds the status changes waiting for the database
// (during an outage of it): the oldest are dropped past it.
const maxPendingChanges = 10000

// recordable reports whether a change into to is news about the device:
// "unknown" is the hub not knowing (a restart, its broker link down) unless
// the device's agent went offline, and an ignored device has no history.
func recordable(to, reason string) bool {
	switch to {
	case "", RegIgnored:
		return false
	case StatusUnknown:
		return reason == "agent offline"
	}
	return true
}

// changeReason says why d went to its current status; called with the
// state's lock held, after recompute set d.status and d.reason.
func (s *state) changeReasonLocked(d *device, now time.Time) string {
	if d.reason != "" {
		return d.reason
	}
	if d.status != StatusOffline {
		return ""
	}
	switch {
	case d.reported == "offline" && !d.reportedAt.Before(d.lastSeen):
		return "reported offline"
	case d.pingDown:
		return "ping failed"
	case !d.lastSeen.IsZero():
		return fmt.Sprintf("no data for %s", now.Sub(d.lastSeen).Round(time.Second))
	}
	return ""
}

// statusChange queues d's change from old to its current status; called
// with the state's lock held.
func (s *state) statusChangeLocked(d *device, old string, now time.Time) {
	p := s.persist
	if p == nil {
		return
	}
	reason := s.changeReasonLocked(d, now)
	if !recordable(d.status, reason) {
		return
	}
	row := statusChangeRow{unit: d.unit, device: d.id, StatusChange: StatusChange{At: now, From: old, To: d.status, Reason: reason}}
	p.mu.Lock()
	if len(p.changes) >= maxPendingChanges {
		p.changes = p.changes[1:]
	}
	p.changes = append(p.changes, row)
	p.mu.Unlock()
	p.poke()
}

// queueChanges adds the pending status changes to b, in order. The row's
// from is the device's latest stored status (the one before an unrecorded
// "unknown"), so that the history reads as a chain; a change into the
// status that row already has is skipped: another hub instance on the
// database recorded it, or this one before a restart.
func queueChanges(b *pgx.Batch, rows []statusChangeRow) {
	for _, r := range rows {
		b.Queue(`INSERT INTO device_status_changes(unit, device, at, from_status, to_status, reason)
			SELECT $1::text, $2::text, $3::timestamptz, coalesce(l.to_status, $4::text), $5::text, $6::text
			FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT to_status FROM device_status_changes
				WHERE unit=$1 AND device=$2 ORDER BY at DESC, id DESC LIMIT 1) l ON true
			WHERE l.to_status IS DISTINCT FROM $5::text`,
			r.unit, r.device, r.At, r.From, r.To, r.Reason)
	}
}

// queryStatusChanges lists a device's status changes, newest first.
func queryStatusChanges(ctx context.Context, pool *pgxpool.Pool, unit, device string, since time.Time, limit int) ([]StatusChange, error) {
	rows, err := pool.Query(ctx, `SELECT at, from_status, to_status, reason FROM device_status_changes
		WHERE unit=$1 AND device=$2 AND at >= $3 ORDER BY at DESC, id DESC LIMIT $4`, unit, device, since, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (StatusChange, error) {
		var c StatusChange
		err := r.Scan(&c.At, &c.From, &c.To, &c.Reason)
		return c, err
	})
}

// queryDeviceAlarms lists the alarms of one device, newest first.
func queryDeviceAlarms(ctx context.Context, pool *pgxpool.Pool, unit, device string, limit int) ([]Alarm, error) {
	rows, err := pool.Query(ctx, `SELECT `+alarmColumns+` FROM alarms WHERE unit=$1 AND device=$2
		ORDER BY raised_at DESC LIMIT $3`, unit, device, limit)
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

// queryDeviceIncidents lists the incidents whose root is one of roots (the
// device and its parents: a failed parent's incident is the device's
// outage too), newest first.
func queryDeviceIncidents(ctx context.Context, pool *pgxpool.Pool, unit string, roots []string, limit int) ([]Incident, error) {
	rows, err := pool.Query(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE unit=$1 AND root_device = ANY($2)
		ORDER BY opened_at DESC LIMIT $3`, unit, roots, limit)
	if err != nil {
		return nil, err
	}
	return scanIncidents(rows)
}

// queryDeviceWindows lists the maintenance windows covering one device
// (its own and the whole commune's) that ended after since, the latest start first.
func queryDeviceWindows(ctx context.Context, pool *pgxpool.Pool, unit, device string, since time.Time, limit int) ([]Window, error) {
	rows, err := pool.Query(ctx, `SELECT id, unit, device, starts_at, ends_at, reason, created_by FROM maintenance_windows
		WHERE unit=$1 AND (device IS NULL OR device=$2) AND ends_at > $3 ORDER BY starts_at DESC LIMIT $4`, unit, device, since, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Window])
}

// pruneStatusChanges applies the hourly rollups' retention to the history.
func pruneStatusChanges(ctx context.Context, pool *pgxpool.Pool, before time.Time) error {
	_, err := pool.Exec(ctx, `DELETE FROM device_status_changes WHERE at < $1`, before)
	return err
}
