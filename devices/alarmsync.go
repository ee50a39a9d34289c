package devices

import (
	"strconv"
	"time"
)

// With several hub instances (a shared MQTT group) each evaluates the alarm
// rules on the telemetry it receives, so two may see the same crossing.
// PostgreSQL keeps one active alarm per device and rule (alarms_one_active:
// the second insert is a no-op), and every instance mirrors the active
// alarms once a second (syncAlarms): the alarm that lost the race is
// replaced by the one stored, an alarm cleared or acknowledged through
// another instance is cleared or acknowledged here too, and every wall shows
// the same alarms with the same ids.

// alarmSyncGrace is how long a new local alarm may be missing from the
// database before it counts as cleared elsewhere: the persister writes
// within about half a second.
const alarmSyncGrace = 5 * time.Second

func alarmKey(unit, device string, rule int64) string {
	return unit + "/" + device + "/" + strconv.FormatInt(rule, 10)
}

// syncAlarms makes the state's active alarms those of the database (db:
// every active alarm), keeping local ones too new to be stored yet.
func (s *state) syncAlarms(db []Alarm, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byID := make(map[string]*Alarm, len(db))
	byKey := make(map[string]*Alarm, len(db))
	for i := range db {
		a := &db[i]
		byID[a.ID] = a
		byKey[alarmKey(a.Unit, a.Device, a.RuleID)] = a
	}
	held := map[string]bool{}
	for _, c := range s.communes {
		for id, a := range c.alarms {
			stored, ok := byID[id]
			switch {
			case ok:
				held[id] = true
				if a.State != stored.State || (a.AckedAt == nil) != (stored.AckedAt == nil) {
					a.State, a.AckedBy, a.AckedAt, a.AckComment = stored.State, stored.AckedBy, stored.AckedAt, stored.AckComment
					s.markLocked(c.code, true)
				}
			case byKey[alarmKey(a.Unit, a.Device, a.RuleID)] != nil:
				// Another instance raised it first: take its alarm.
				other := *byKey[alarmKey(a.Unit, a.Device, a.RuleID)]
				other.Value = a.Value
				delete(c.alarms, id)
				s.persist.forgetAlarm(id)
				c.alarms[other.ID] = &other
				held[other.ID] = true
				if d := c.devices[a.Device]; d != nil && d.rules[a.RuleID] != nil && d.rules[a.RuleID].alarm == a {
					d.rules[a.RuleID].alarm = &other
				}
				s.markLocked(c.code, true)
			case now.Sub(a.Since) > alarmSyncGrace:
				// Cleared through another instance.
				delete(c.alarms, id)
				if d := c.devices[a.Device]; d != nil && d.rules[a.RuleID] != nil && d.rules[a.RuleID].alarm == a {
					d.rules[a.RuleID].alarm = nil
					d.rules[a.RuleID].pending = time.Time{}
				}
				s.markLocked(c.code, true)
			}
		}
	}
	for id, stored := range byID {
		if held[id] {
			continue
		}
		// Raised by another instance.
		a := *stored
		c := s.communeLocked(a.Unit)
		c.alarms[id] = &a
		if d := c.devices[a.Device]; d != nil {
			rs := d.rules[a.RuleID]
			if rs == nil {
				rs = &ruleState{}
				d.rules[a.RuleID] = rs
			}
			if rs.alarm == nil {
				rs.alarm = &a
			}
		}
		s.markLocked(c.code, true)
	}
}

// Incidents: every instance derives them from the same statuses, but the
// id carries the second the failure started, which two instances can see
// either side of a second. An open incident therefore keeps its id while
// its root stays down (keepIncidentIDs), PostgreSQL keeps one open
// incident per root (incidents_one_open), and syncIncidents renames a local
// incident to the one stored by another instance.

// sameFailure reports whether two incidents are one failure: the same root,
// both power cuts or neither.
func sameFailure(a, b *Incident) bool {
	return a.Unit == b.Unit && a.RootDevice == b.RootDevice && (a.Kind == IncidentPowerCut) == (b.Kind == IncidentPowerCut)
}

// keepIncidentIDs gives each wanted incident that is not open yet the id
// and start of an open incident of the same failure, if one is no longer
// wanted under its own id.
func keepIncidentIDs(open, want map[string]*Incident) {
	for id, inc := range want {
		if open[id] != nil {
			continue
		}
		for oid, old := range open {
			if want[oid] == nil && sameFailure(old, inc) {
				delete(want, id)
				inc.ID, inc.Since = oid, old.Since
				want[oid] = inc
				break
			}
		}
	}
}

// syncIncidents renames the open incidents that another instance stored
// under another id (db: every open incident).
func (s *state) syncIncidents(db []Incident) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byID := make(map[string]bool, len(db))
	for i := range db {
		byID[db[i].ID] = true
	}
	for i := range db {
		stored := &db[i]
		c := s.communes[stored.Unit]
		if c == nil || c.incidents[stored.ID] != nil {
			continue
		}
		for id, inc := range c.incidents {
			if !byID[id] && sameFailure(inc, stored) {
				delete(c.incidents, id)
				s.persist.forgetIncident(id)
				inc.ID, inc.Since = stored.ID, stored.Since
				c.incidents[stored.ID] = inc
				s.markLocked(c.code, true)
				break
			}
		}
	}
}
