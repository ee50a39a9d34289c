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
