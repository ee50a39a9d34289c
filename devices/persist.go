package devices

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// storedDevice is a row of the devices table.
type storedDevice struct {
	Unit         string             `db:"unit"`
	ID           string             `db:"id"`
	Name         string             `db:"name"`
	Kind         string             `db:"kind"`
	IP           string             `db:"ip"`
	MAC          string             `db:"mac"`
	Location     string             `db:"location"`
	Parent       string             `db:"parent"`
	IntervalS    int                `db:"interval_s"`
	Registration string             `db:"registration"`
	Agent        string             `db:"agent"`
	Status       string             `db:"status"`
	LastSeen     *time.Time         `db:"last_seen"`
	Metrics      map[string]float64 `db:"metrics"`
	RegRev       int64              `db:"reg_rev"`     // the last technician's change of registration applied (registration.go)
	Reported     string             `db:"reported"`    // the device's last word on its status topic
	ReportedAt   *time.Time         `db:"reported_at"` // when it came
}

// persister writes device rows, incidents and alarms in the background,
// latest state per key, so that the state never waits for the database.
// A failed write is retried on the next round; the pending set is bounded
// by the number of distinct devices, incidents and alarms.
type persister struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	wake chan struct{}

	mu        sync.Mutex
	devices   map[string]storedDevice
	incidents map[string]Incident
	alarms    map[string]Alarm

	changes []statusChangeRow // status changes in order, at most maxPendingChanges (history_store.go)
}

func newPersister(pool *pgxpool.Pool, log *slog.Logger) *persister {
	return &persister{pool: pool, log: log, wake: make(chan struct{}, 1),
		devices: map[string]storedDevice{}, incidents: map[string]Incident{}, alarms: map[string]Alarm{}}
}

func (p *persister) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// device queues d's row; called with the state's lock held.
func (p *persister) device(d *device) {
	if p == nil {
		return
	}
	row := rowOf(d)
	p.mu.Lock()
	p.devices[d.unit+"/"+d.id] = row
	p.mu.Unlock()
	p.poke()
}

// rowOf is d's row of the devices table; called with the state's lock held.
func rowOf(d *device) storedDevice {
	row := storedDevice{Unit: d.unit, ID: d.id, Name: d.name, Kind: d.kind, IP: d.ip, MAC: d.mac, Location: d.location,
		Parent: d.parent, IntervalS: d.intervalS, Registration: d.registration, Agent: d.agent, Status: d.status,
		Metrics: make(map[string]float64, len(d.metrics)), RegRev: d.regRev}
	if row.Status == "" {
		row.Status = StatusUnknown
	}
	if !d.lastSeen.IsZero() {
		t := d.lastSeen
		row.LastSeen = &t
	}
	if d.reported != "" {
		t := d.reportedAt
		row.Reported, row.ReportedAt = d.reported, &t
	}
	for k, v := range d.metrics {
		row.Metrics[k] = v
	}
	return row
}

func (p *persister) incident(inc *Incident) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.incidents[inc.ID] = *inc
	p.mu.Unlock()
	p.poke()
}

func (p *persister) alarm(a *Alarm) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.alarms[a.ID] = *a
	p.mu.Unlock()
	p.poke()
}

// forgetAlarm drops a queued write of alarm id (one another instance's
// alarm replaced).
func (p *persister) forgetAlarm(id string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	delete(p.alarms, id)
	p.mu.Unlock()
}

// forgetIncident drops a queued write of incident id (renamed to the id
// another instance stored).
func (p *persister) forgetIncident(id string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	delete(p.incidents, id)
	p.mu.Unlock()
}

func (p *persister) pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.devices) + len(p.incidents) + len(p.alarms) + len(p.changes)
}

// run writes pending rows until ctx ends, then one last time.
func (p *persister) run(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			_ = p.flush(fctx)
			cancel()
			return
		case <-p.wake:
		case <-t.C:
		}
		if err := p.flush(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("devices: saving state failed; will retry", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (p *persister) flush(ctx context.Context) error {
	p.mu.Lock()
	devs, incs, alarms, changes := p.devices, p.incidents, p.alarms, p.changes
	p.devices, p.incidents, p.alarms, p.changes = map[string]storedDevice{}, map[string]Incident{}, map[string]Alarm{}, nil
	p.mu.Unlock()
	if len(devs)+len(incs)+len(alarms)+len(changes) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, d := range devs {
		b.Queue(`INSERT INTO devices(unit, id, name, kind, ip, mac, location, parent, interval_s, registration, agent, status, last_seen, metrics, reported, reported_at, updated_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$16,$17, now())
			ON CONFLICT (unit, id) DO UPDATE SET name=$3, kind=$4, ip=$5, mac=$6, location=$7, parent=$8, interval_s=$9,
				registration = CASE WHEN devices.reg_rev > $15 THEN devices.registration ELSE $10 END,
				agent=$11, status=$12, last_seen=$13, metrics=$14, reported=$16, reported_at=$17, updated_at=now()`,
			d.Unit, d.ID, d.Name, d.Kind, d.IP, d.MAC, d.Location, d.Parent, d.IntervalS, d.Registration, d.Agent, d.Status, d.LastSeen, d.Metrics, d.RegRev,
			d.Reported, d.ReportedAt)
	}
	for _, i := range incs {
		// A new incident is not written when its root already has an open
		// one (incidents_one_open): another instance opened it, and the
		// mirror (syncIncidents) adopts that one's id.
		b.Queue(`WITH up AS (
				UPDATE incidents SET kind=$3, title=$4, affected=$6, ups_minutes=$7, closed_at=$9 WHERE id=$1 RETURNING 1)
			INSERT INTO incidents(id, unit, kind, title, root_device, affected, ups_minutes, opened_at, closed_at)
			SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::int, $7::float8, $8::timestamptz, $9::timestamptz
			WHERE NOT EXISTS (SELECT 1 FROM up)
			ON CONFLICT DO NOTHING`,
			i.ID, i.Unit, i.Kind, i.Title, i.RootDevice, i.Affected, i.UPSMinutes, i.Since, i.ClosedAt)
	}
	for _, a := range alarms {
		// Acknowledgements are written by the API; never overwrite them here.
		// A new alarm is not written when the device already has an active
		// one for the rule (alarms_one_active): another hub instance raised
		// it first, and the mirror (syncAlarms) adopts that one.
		b.Queue(`WITH up AS (
				UPDATE alarms SET value=$8, cleared_at=$10,
					state = CASE WHEN $7 = 'cleared' THEN 'cleared' ELSE alarms.state END
				WHERE id=$1 RETURNING 1)
			INSERT INTO alarms(id, unit, device, rule_id, metric, severity, state, value, raised_at, cleared_at)
			SELECT $1::text, $2::text, $3::text, $4::bigint, $5::text, $6::text, $7::text, $8::float8, $9::timestamptz, $10::timestamptz WHERE NOT EXISTS (SELECT 1 FROM up)
			ON CONFLICT DO NOTHING`,
			a.ID, a.Unit, a.Device, a.RuleID, a.Metric, a.Severity, a.State, a.Value, a.Since, a.ClearedAt)
	}
	queueChanges(b, changes)
	err := p.pool.SendBatch(ctx, b).Close()
	if err != nil {
		// Put back what is not superseded by newer state.
		p.mu.Lock()
		for k, v := range devs {
			if _, newer := p.devices[k]; !newer {
				p.devices[k] = v
			}
		}
		for k, v := range incs {
			if _, newer := p.incidents[k]; !newer {
				p.incidents[k] = v
			}
		}
		for k, v := range alarms {
			if _, newer := p.alarms[k]; !newer {
				p.alarms[k] = v
			}
		}
		p.changes = append(changes, p.changes...) // in order, before the newer ones
		if n := len(p.changes) - maxPendingChanges; n > 0 {
			p.changes = p.changes[n:]
		}
		p.mu.Unlock()
	}
	return err
}
