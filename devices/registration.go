package devices

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A technician adopts or ignores a device through one hub instance; with
// several instances on one database the others must apply it too, and
// must not undo it with their own copy of the row. The API stores the
// change at once with the next reg_rev; every instance reads, in its
// sharing round (seen.go), the rows whose reg_rev is past the last it
// applied; and the persister never overwrites the registration of a row
// whose reg_rev is newer than the writing instance's copy.

// storeRegistration writes the registration and meta of unit/id as the
// state holds them now, under a new reg_rev, and records that rev.
func (s *Service) storeRegistration(ctx context.Context, unit, id string) error {
	row, ok := s.st.row(unit, id)
	if !ok {
		return nil
	}
	var rev int64
	err := s.pool.QueryRow(ctx, `
		INSERT INTO devices(unit, id, name, kind, ip, mac, location, parent, interval_s, registration, status, reg_rev)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11, nextval('devices_reg_rev'))
		ON CONFLICT (unit, id) DO UPDATE SET name=$3, kind=$4, ip=$5, mac=$6, location=$7, parent=$8, interval_s=$9,
			registration=$10, reg_rev=excluded.reg_rev, updated_at=now()
		RETURNING reg_rev`,
		row.Unit, row.ID, row.Name, row.Kind, row.IP, row.MAC, row.Location, row.Parent, row.IntervalS, row.Registration, row.Status).Scan(&rev)
	if err != nil {
		return err
	}
	s.st.setRegRev(unit, id, rev)
	return nil
}

// row returns unit/id's row as the state holds it.
func (s *state) row(unit, id string) (storedDevice, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.communes[unit]
	if c == nil || c.devices[id] == nil {
		return storedDevice{}, false
	}
	return rowOf(c.devices[id]), true
}

func (s *state) setRegRev(unit, id string, rev int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.communes[unit]; c != nil && c.devices[id] != nil {
		d := c.devices[id]
		d.regRev = max(d.regRev, rev)
	}
}

// readRegistrations returns the rows whose registration changed after rev.
func readRegistrations(ctx context.Context, pool *pgxpool.Pool, after int64) ([]storedDevice, error) {
	rows, err := pool.Query(ctx, `SELECT unit, id, name, kind, ip, mac, location, parent, interval_s, registration, agent,
		status, last_seen, metrics, reg_rev, reported, reported_at FROM devices WHERE reg_rev > $1 ORDER BY reg_rev LIMIT $2`, after, seenPage)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByName[storedDevice])
}

// applyRegistrations takes technicians' changes made through other
// instances (rows newer than what the state applied).
func (s *state) applyRegistrations(rows []storedDevice, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rows {
		c := s.communeLocked(r.Unit)
		if c.devices[r.ID] == nil && len(c.devices) >= s.cfg.MaxDevices {
			continue
		}
		d, _ := s.deviceLocked(c, r.ID)
		if d.regRev >= r.RegRev {
			continue
		}
		s.applyMetaLocked(c, d, &Meta{Name: r.Name, Kind: r.Kind, IP: r.IP, MAC: r.MAC, Location: r.Location, Parent: r.Parent, IntervalS: r.IntervalS})
		d.registration, d.regRev = r.Registration, r.RegRev
		s.recomputeLocked(c, now)
		s.markLocked(c.code, true)
	}
}
