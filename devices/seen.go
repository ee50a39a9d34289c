package devices

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// With a shared MQTT group the broker hands each hub instance only its
// share of the telemetry, so on its own an instance would see a device
// whose messages all went to another as silent, and time it out. Each
// instance therefore writes, once a second and in one statement, when it
// last heard from each device (with its latest values) to device_seen, and
// takes what the others wrote: every instance has the same last-seen times
// within about a second, far inside a device's timeout (3 intervals).
// Statuses, meta and wills need none of this: every instance receives them.

// seenRow is one device's row of device_seen.
type seenRow struct {
	Unit     string             `db:"unit"`
	Device   string             `db:"device"`
	LastSeen time.Time          `db:"last_seen"`
	PingDown bool               `db:"ping_down"`
	Metrics  map[string]float64 `db:"metrics"`
	Rev      int64              `db:"rev"`
}

// seenPeriod is how often an instance shares and reads last-seen times.
const seenPeriod = time.Second

// seenPage bounds the rows read at once.
const seenPage = 5000

// seenShare exchanges last-seen times through PostgreSQL. One goroutine
// (run) owns it.
type seenShare struct {
	pool     *pgxpool.Pool
	st       *state
	instance string // this process: instance id and a random part, so two processes never take each other for themselves
	// The reader asks for rows after the watermark of the round before the
	// last, so a row whose statement took its rev before another's but
	// committed after it is still read, one round later.
	mark, prevMark int64
	regMark        int64 // the last reg_rev read (registration.go)
}

// run shares and reads every seenPeriod until ctx ends.
func (sh *seenShare) run(ctx context.Context, onErr func(error)) {
	t := time.NewTicker(seenPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := sh.round(ctx, time.Now()); err != nil && ctx.Err() == nil {
			onErr(err)
		}
	}
}

// round writes what this instance heard since the last round, applies
// what the others wrote, and mirrors the active alarms and the open
// incidents' ids (alarmsync.go).
func (sh *seenShare) round(ctx context.Context, now time.Time) error {
	if rows := sh.st.takeSeen(); len(rows) > 0 {
		if err := sh.write(ctx, rows); err != nil {
			sh.st.putBackSeen(rows)
			return err
		}
	}
	from := sh.prevMark
	for {
		rows, err := sh.read(ctx, from)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			break
		}
		sh.st.applySeen(rows, now)
		from = rows[len(rows)-1].Rev
		if len(rows) < seenPage {
			break
		}
	}
	sh.prevMark, sh.mark = sh.mark, max(sh.mark, from)
	// Technicians' changes through other instances; a row seen again is
	// skipped by its reg_rev.
	for {
		regs, err := readRegistrations(ctx, sh.pool, sh.regMark)
		if err != nil {
			return err
		}
		if len(regs) == 0 {
			break
		}
		sh.st.applyRegistrations(regs, now)
		sh.regMark = regs[len(regs)-1].RegRev
		if len(regs) < seenPage {
			break
		}
	}
	active, err := queryAlarms(ctx, sh.pool, "", "active", maxSyncedAlarms)
	if err != nil {
		return err
	}
	sh.st.syncAlarms(active, now)
	open, err := queryIncidents(ctx, sh.pool, "", true, maxSyncedAlarms)
	if err != nil {
		return err
	}
	sh.st.syncIncidents(open)
	return nil
}

// maxSyncedAlarms bounds the active alarms mirrored (the start-up load reads as many).
const maxSyncedAlarms = 10000

func (sh *seenShare) write(ctx context.Context, rows []seenRow) error {
	units, devs, seen, down, metrics := make([]string, len(rows)), make([]string, len(rows)),
		make([]time.Time, len(rows)), make([]bool, len(rows)), make([]map[string]float64, len(rows))
	for i, r := range rows {
		units[i], devs[i], seen[i], down[i], metrics[i] = r.Unit, r.Device, r.LastSeen, r.PingDown, r.Metrics
	}
	// One statement for the round: a device's newer sighting wins, and its
	// values with it.
	_, err := sh.pool.Exec(ctx, `
		INSERT INTO device_seen(unit, device, instance, last_seen, ping_down, metrics)
		SELECT u, d, $6, s, p, m FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::boolean[], $5::jsonb[]) AS x(u, d, s, p, m)
		ON CONFLICT (unit, device) DO UPDATE SET
			instance = excluded.instance,
			last_seen = greatest(device_seen.last_seen, excluded.last_seen),
			ping_down = CASE WHEN excluded.last_seen >= device_seen.last_seen THEN excluded.ping_down ELSE device_seen.ping_down END,
			metrics = CASE WHEN excluded.last_seen >= device_seen.last_seen THEN device_seen.metrics || excluded.metrics ELSE excluded.metrics || device_seen.metrics END,
			rev = nextval('device_seen_rev')`,
		units, devs, seen, down, metrics, sh.instance)
	return err
}

func (sh *seenShare) read(ctx context.Context, after int64) ([]seenRow, error) {
	rows, err := sh.pool.Query(ctx, `SELECT unit, device, last_seen, ping_down, metrics, rev FROM device_seen
		WHERE rev > $1 AND instance <> $2 ORDER BY rev LIMIT $3`, after, sh.instance, seenPage)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByName[seenRow])
}

// shareSeen makes the state record the devices heard from through this
// instance's telemetry, for seenShare.
func (s *state) shareSeen() {
	s.mu.Lock()
	s.seen = map[*device]bool{}
	s.mu.Unlock()
}

func (s *state) sawLocked(d *device) {
	if s.seen != nil {
		s.seen[d] = true
	}
}

// takeSeen returns the rows of the devices heard from since the last call.
func (s *state) takeSeen() []seenRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]seenRow, 0, len(s.seen))
	for d := range s.seen {
		if d.lastSeen.IsZero() {
			continue
		}
		r := seenRow{Unit: d.unit, Device: d.id, LastSeen: d.lastSeen, PingDown: d.pingDown, Metrics: make(map[string]float64, len(d.metrics))}
		for k, v := range d.metrics {
			r.Metrics[k] = v
		}
		out = append(out, r)
	}
	clear(s.seen)
	return out
}

// putBackSeen marks again the devices of rows that could not be written.
func (s *state) putBackSeen(rows []seenRow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rows {
		if c := s.communes[r.Unit]; c != nil && c.devices[r.Device] != nil {
			s.sawLocked(c.devices[r.Device])
		}
	}
}

// applySeen takes other instances' sightings: a later last-seen time, and
// the values that came with it. It counts as this instance having heard
// from the device (the same status evaluation follows), but it raises no
// alarm: rules run on the instance that received the telemetry.
func (s *state) applySeen(rows []seenRow, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := map[*commune]bool{}
	for _, r := range rows {
		c := s.communeLocked(r.Unit)
		if c.devices[r.Device] == nil && len(c.devices) >= s.cfg.MaxDevices {
			continue
		}
		d, created := s.deviceLocked(c, r.Device)
		if d.registration == RegIgnored {
			continue
		}
		if r.LastSeen.After(d.metricsAt) {
			for k, v := range r.Metrics {
				d.metrics[k] = v
			}
			d.metricsAt = r.LastSeen
			d.pingDown = r.PingDown
		}
		if r.LastSeen.After(d.lastSeen) {
			d.lastSeen = r.LastSeen
		}
		if s.evaluateLocked(d, now) || created {
			changed[c] = true
		}
		s.markLocked(c.code, false)
	}
	for c := range changed {
		s.recomputeLocked(c, now)
		s.markLocked(c.code, true)
	}
}
