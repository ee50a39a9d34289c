package devices

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"
)

// StateConfig tunes status detection. Zero values take the defaults.
type StateConfig struct {
	Interval     time.Duration            // default reporting interval (per device: meta interval_s); default 10s
	KindInterval map[string]time.Duration // per-kind reporting intervals, between the two
	Missed       int                      // intervals without data before offline; default 3
	FlapWindow   time.Duration            // default 10m
	FlapChanges  int                      // default 4
	MaxDevices   int                      // devices one commune may hold; default DefaultMaxDevicesPerCommune
}

func (c *StateConfig) defaults() {
	if c.Interval <= 0 {
		c.Interval = 10 * time.Second
	}
	if c.Missed <= 0 {
		c.Missed = 3
	}
	if c.FlapWindow <= 0 {
		c.FlapWindow = 10 * time.Minute
	}
	if c.FlapChanges <= 0 {
		c.FlapChanges = 4
	}
	if c.MaxDevices <= 0 {
		c.MaxDevices = DefaultMaxDevicesPerCommune
	}
}

// state holds every device, incident and active alarm in memory. MQTT
// handlers call apply (many goroutines with the embedded broker), the
// ticker calls tick, the API reads views; all under mu. Nothing under mu
// blocks: database writes go to the persister and bus publishes to the
// publisher, both woken through channels that never block.
type state struct {
	cfg     StateConfig
	started time.Time

	mu       sync.Mutex
	communes map[string]*commune
	rules    []Rule
	windows  []Window
	dirty    map[string]bool // communes whose snapshot must be republished; true: a status changed (publish at once)
	broker   brokerState
	link     hubLink
	seenMark time.Time
	persist  *persister
	wake     chan struct{}    // publisher wake-up, capacity 1
	seen     map[*device]bool // heard from through this instance's telemetry since the last share; nil: not shared (seen.go)
}

type brokerState struct {
	last      int64     // the broker's dropped-messages counter ($SYS)
	grewAt    time.Time // when it last grew
	sysSeen   time.Time // when the counter last arrived
	lost      int64     // messages the hub lost (counted, shown)
	connected bool
}

// hubLink is the hub's own connection to its broker. While it is down, or
// not yet up for a device's whole timeout since it came back, the hub has
// not been listening: a device it has not heard from may have spoken to
// nobody (or to another hub that took the session over). Its silence is
// then no evidence: the device is unknown, not down, and no up/down change
// is recorded, so the hub's own flapping never makes devices flap.
type hubLink struct {
	up    bool
	since time.Time // when it last came up (the hub's start for the embedded broker)
}

type commune struct {
	code      string
	devices   map[string]*device
	byIP      map[string]string // ip → device id
	incidents map[string]*Incident
	alarms    map[string]*Alarm // active alarms by id
}

type device struct {
	unit, id                              string
	name, kind, ip, mac, location, parent string
	intervalS                             int
	registration                          string
	agent                                 string

	reported   string    // last status topic value
	reportedAt time.Time // when it came
	lastSeen   time.Time // last sign of life (telemetry, online, successful ping)
	pingDown   bool      // its agent's last ping failed

	known      bool // base status is known
	up         bool
	downSince  time.Time
	upSince    time.Time
	graceUntil time.Time   // down behind a parent that just came back: not yet its own incident
	changes    []time.Time // base transitions inside the flap window

	status, reason string
	metrics        map[string]float64
	metricsAt      time.Time
	rules          map[int64]*ruleState
	maintenance    bool
	regRev         int64 // the last technician's change of registration applied (registration.go)
}

type ruleState struct {
	pending time.Time // condition true since
	alarm   *Alarm    // the active alarm, if any
}

// DefaultMaxDevicesPerCommune bounds what one commune's publishers can
// make the hub hold: a commune office has tens of devices, not thousands of
// ids (Config.MaxDevicesPerCommune, COMMUNEHUB_DEVICE_MAX_PER_COMMUNE).
const DefaultMaxDevicesPerCommune = 2000

// accepts reports whether a message from device of unit may be taken:
// false for a device the hub does not know yet when the commune is full.
func (s *state) accepts(unit, device string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.communes[unit]
	return c == nil || c.devices[device] != nil || len(c.devices) < s.cfg.MaxDevices
}

func newState(cfg StateConfig, p *persister, now time.Time) *state {
	cfg.defaults()
	return &state{
		cfg: cfg, started: now, communes: map[string]*commune{}, dirty: map[string]bool{},
		persist: p, wake: make(chan struct{}, 1), link: hubLink{up: true, since: now},
	}
}

func (s *state) communeLocked(code string) *commune {
	c := s.communes[code]
	if c == nil {
		c = &commune{code: code, devices: map[string]*device{}, byIP: map[string]string{},
			incidents: map[string]*Incident{}, alarms: map[string]*Alarm{}}
		s.communes[code] = c
	}
	return c
}

func (s *state) deviceLocked(c *commune, id string) (*device, bool) {
	d := c.devices[id]
	if d != nil {
		return d, false
	}
	d = &device{unit: c.code, id: id, kind: "other", registration: RegUnregistered,
		metrics: map[string]float64{}, rules: map[int64]*ruleState{}}
	c.devices[id] = d
	return d, true
}

// markLocked asks for code's snapshot to be republished: urgently (at
// once, whatever the coalescing gap) when a status, incident or alarm
// changed, else within the gap.
func (s *state) markLocked(code string, urgent bool) {
	s.dirty[code] = s.dirty[code] || urgent
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// interval is how often d reports: its own meta interval_s, else its
// kind's, else the default.
func (s *state) interval(d *device) time.Duration {
	if d.intervalS > 0 {
		return time.Duration(d.intervalS) * time.Second
	}
	if iv := s.cfg.KindInterval[d.kind]; iv > 0 {
		return iv
	}
	return s.cfg.Interval
}

// apply takes an accepted message into the state and returns the samples
// to store (Telegraf targets resolved to device ids, ignored devices left out).
func (s *state) apply(m *message) []sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := m.received
	if m.kind == kindSysDropped {
		s.brokerDroppedLocked(m.dropped, now)
		return nil
	}
	c := s.communeLocked(m.unit)
	d, created := s.deviceLocked(c, m.device)
	changed := created
	switch m.kind {
	case kindStatus:
		d.reported, d.reportedAt = m.status, now
		if m.status == "online" {
			d.lastSeen = now
		}
		changed = true
	case kindMeta:
		changed = s.applyMetaLocked(c, d, m.meta) || changed
		d.lastSeen = now
	case kindTelemetry:
		d.lastSeen = now
		s.sawLocked(d)
		for i := range m.samples {
			m.samples[i].unit = m.unit
			if s.observeMetricsLocked(c, d, m.samples[i].metrics, now) {
				changed = true
			}
		}
	case kindTelegraf:
		if d.kind == "other" {
			d.kind = "agent"
		}
		d.lastSeen = now
		s.sawLocked(d)
		out := m.samples[:0]
		for _, smp := range m.samples {
			t := d
			if smp.target != "" {
				var made bool
				if _, known := c.byIP[smp.target]; !known && c.devices[sanitizeID(smp.target)] == nil && len(c.devices) >= s.cfg.MaxDevices {
					continue // the commune is full: a new target is not taken
				}
				t, made = s.targetLocked(c, smp.target)
				changed = changed || made
				if t.agent != d.id {
					t.agent = d.id
					changed = true
					s.persist.device(t)
				}
				if smp.source == "ping" {
					t.pingDown = smp.metrics["loss_pct"] >= 100
				}
				if !t.pingDown {
					t.lastSeen = now
				}
				s.sawLocked(t)
			}
			if t.registration == RegIgnored {
				continue
			}
			smp.device, smp.unit = t.id, c.code
			if s.observeMetricsLocked(c, t, smp.metrics, now) {
				changed = true
			}
			if t != d && s.evaluateLocked(t, now) {
				changed = true
			}
			out = append(out, smp)
		}
		m.samples = out
	}
	if d.registration == RegIgnored {
		return nil
	}
	urgent := false
	if s.evaluateLocked(d, now) || changed {
		s.recomputeLocked(c, now)
		urgent = true
	}
	s.markLocked(c.code, urgent)
	if created || changed {
		s.persist.device(d)
	}
	return m.samples
}

// targetLocked finds the device a Telegraf tag names: by ip, then by id;
// else it creates an unregistered device for a technician to adopt.
func (s *state) targetLocked(c *commune, key string) (*device, bool) {
	if id, ok := c.byIP[key]; ok {
		if d := c.devices[id]; d != nil {
			return d, false
		}
	}
	id := sanitizeID(key)
	d, created := s.deviceLocked(c, id)
	if created && net.ParseIP(key) != nil {
		d.ip = key
		c.byIP[key] = id
	}
	return d, created
}

// sanitizeID turns a host name or address into a device id.
func sanitizeID(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-' || ch == '.') {
			b[i] = '-'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	if len(b) == 0 || b[0] == '.' {
		return "x" + string(b)
	}
	return string(b)
}

func (s *state) applyMetaLocked(c *commune, d *device, m *Meta) bool {
	if d.ip != "" && c.byIP[d.ip] == d.id {
		delete(c.byIP, d.ip)
	}
	changed := d.name != m.Name || d.kind != m.Kind || d.parent != m.Parent || d.ip != m.IP ||
		d.intervalS != m.IntervalS || d.registration == RegUnregistered
	d.name, d.kind, d.ip, d.mac, d.location, d.parent, d.intervalS = m.Name, m.Kind, m.IP, m.MAC, m.Location, m.Parent, m.IntervalS
	if d.parent == d.id {
		d.parent = ""
	}
	if d.ip != "" {
		c.byIP[d.ip] = d.id
	}
	if d.registration == RegUnregistered {
		d.registration = RegRegistered // a device that describes itself was deployed on purpose
	}
	return changed
}

// observeMetricsLocked records the latest metrics and runs the alarm
// rules; true when something incidents depend on changed (a UPS going on
// or off battery, its remaining minutes).
func (s *state) observeMetricsLocked(c *commune, d *device, metrics map[string]float64, now time.Time) bool {
	changed := false
	if d.kind == "ups" {
		for _, k := range []string{"on_battery", "runtime_min"} {
			if v, ok := metrics[k]; ok && v != d.metrics[k] {
				changed = true
			}
		}
	}
	for k, v := range metrics {
		d.metrics[k] = v
	}
	d.metricsAt = now
	s.evalRulesLocked(c, d, metrics, now)
	return changed
}

// saidOffline reports whether d's last word is its own "offline" (its will),
// with nothing heard from it since: it is down, and known to be, even just
// after a restart (its report is stored with the device).
func saidOffline(d *device) bool {
	return d.reported == "offline" && !d.reportedAt.Before(d.lastSeen)
}

// evaluateLocked recomputes d's base up/down; true when it changed.
func (s *state) evaluateLocked(d *device, now time.Time) bool {
	known, up := true, true
	switch {
	case saidOffline(d):
		up = false
	case d.pingDown:
		up = false
	case d.lastSeen.IsZero():
		known, up = false, false
	case now.Sub(d.lastSeen) > time.Duration(s.cfg.Missed)*s.interval(d):
		up = false
		if !(d.known && !d.up) && s.deafLocked(d.lastSeen, now, time.Duration(s.cfg.Missed)*s.interval(d)) {
			known = false // the hub was not listening all that time (a device already down stays down)
		}
	}
	if known && !up && d.lastSeen.Before(s.started) && d.reportedAt.Before(s.started) && !saidOffline(d) &&
		now.Sub(s.started) <= time.Duration(s.cfg.Missed)*s.interval(d) {
		known = false // loaded from the database: give it its intervals after a restart
	}
	if known == d.known && up == d.up {
		return false
	}
	if d.known && known && up != d.up {
		d.changes = append(d.changes, now)
	}
	if !up && (d.up || !d.known) {
		d.downSince = now
	}
	if up && (!d.up || !d.known) {
		d.upSince = now
	}
	d.known, d.up = known, up
	return true
}

// deafLocked reports whether the hub may have missed what a device last
// heard at lastSeen said since: its link is down, or came back after
// lastSeen less than timeout ago.
func (s *state) deafLocked(lastSeen, now time.Time, timeout time.Duration) bool {
	return !s.link.up || (s.link.since.After(lastSeen) && now.Sub(s.link.since) <= timeout)
}

func (s *state) flappingLocked(d *device, now time.Time) bool {
	cut := now.Add(-s.cfg.FlapWindow)
	i := 0
	for i < len(d.changes) && d.changes[i].Before(cut) {
		i++
	}
	d.changes = d.changes[i:]
	return len(d.changes) >= s.cfg.FlapChanges
}

func (s *state) inMaintenanceLocked(d *device, now time.Time) bool {
	for _, w := range s.windows {
		if w.Unit == d.unit && (w.Device == nil || *w.Device == d.id) && !now.Before(w.StartsAt) && now.Before(w.EndsAt) {
			return true
		}
	}
	return false
}

// recomputeLocked derives every device's status and the commune's incidents.
func (s *state) recomputeLocked(c *commune, now time.Time) {
	roots := map[string]string{} // down device → root of its failure
	var rootOf func(d *device, depth int) string
	rootOf = func(d *device, depth int) string {
		if r, ok := roots[d.id]; ok {
			return r
		}
		r := d.id
		if p := c.devices[d.parent]; p != nil && depth < 32 && p.known && !p.up && p.registration != RegIgnored {
			r = rootOf(p, depth+1)
		}
		roots[d.id] = r
		return r
	}
	affected := map[string]int{}
	agentDeps := map[string]int{}
	var downTotal int
	var ups []*device
	for _, d := range c.devices {
		if d.registration == RegIgnored {
			continue
		}
		d.maintenance = s.inMaintenanceLocked(d, now)
		old := d.status
		d.reason = ""
		agent := c.devices[d.agent]
		switch {
		case d.registration == RegUnregistered:
			d.status = StatusUnregistered
		case agent != nil && agent.known && !agent.up:
			d.status, d.reason = StatusUnknown, "agent offline"
			agentDeps[agent.id]++
		case !d.known:
			d.status = StatusUnknown
			if !s.link.up && !d.lastSeen.IsZero() {
				d.reason = "hub disconnected from its broker"
			}
		case s.flappingLocked(d, now):
			d.status = StatusFlapping
		case d.up:
			d.status = StatusOnline
		default:
			r := rootOf(d, 0)
			d.graceUntil = time.Time{}
			p := c.devices[d.parent]
			switch {
			case r != d.id:
				d.status, d.reason = StatusUnreachable, "parent "+r+" down"
				affected[r]++
			case p != nil && p.known && p.up && d.downSince.Before(p.upSince) && now.Sub(p.upSince) < s.interval(d):
				// Its parent just came back: give it an interval to reconnect
				// before it is an incident of its own.
				d.status, d.reason = StatusUnreachable, "parent "+p.id+" recovering"
				d.graceUntil = p.upSince.Add(s.interval(d))
			default:
				d.status = StatusOffline
			}
			downTotal++
		}
		if d.kind == "ups" && d.up && d.metrics["on_battery"] >= 1 && now.Sub(d.metricsAt) <= time.Duration(s.cfg.Missed)*s.interval(d) {
			ups = append(ups, d)
		}
		if old != d.status {
			s.persist.device(d)
			s.statusChangeLocked(d, old, now)
		}
	}
	want := map[string]*Incident{}
	if len(ups) > 0 {
		for _, u := range ups {
			inc := powerCutIncident(c, u, downTotal)
			want[inc.ID] = inc
		}
	} else {
		for _, d := range c.devices {
			if d.status != StatusOffline || d.registration != RegRegistered || d.maintenance || agentDeps[d.id] > 0 {
				continue
			}
			inc := downIncident(c, d, affected[d.id])
			want[inc.ID] = inc
		}
	}
	for id, n := range agentDeps {
		a := c.devices[id]
		if a.maintenance {
			continue
		}
		inc := agentIncident(c, a, n)
		want[inc.ID] = inc
	}
	keepIncidentIDs(c.incidents, want)
	for id, inc := range c.incidents {
		if _, still := want[id]; !still {
			t := now
			inc.ClosedAt = &t
			s.persist.incident(inc)
			delete(c.incidents, id)
		}
	}
	for id, inc := range want {
		old := c.incidents[id]
		if old == nil || old.Title != inc.Title || old.Affected != inc.Affected || old.Kind != inc.Kind || !eqPtr(old.UPSMinutes, inc.UPSMinutes) {
			c.incidents[id] = inc
			s.persist.incident(inc)
		}
	}
}

func eqPtr(a, b *float64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func displayName(d *device) string {
	if d.name != "" {
		return d.name
	}
	return d.id
}

func downIncident(c *commune, d *device, n int) *Incident {
	inc := &Incident{ID: incidentID(c.code, d.id, d.downSince), Unit: c.code, RootDevice: d.id, RootName: displayName(d),
		Affected: n, Since: d.downSince}
	if n > 0 {
		inc.Kind = IncidentParentDown
		inc.Title = displayName(d) + " mất kết nối — " + strconv.Itoa(n) + " thiết bị không truy cập được"
		inc.TitleEN = displayName(d) + " down — " + strconv.Itoa(n) + " " + plural(n, "device", "devices") + " unreachable"
	} else {
		inc.Kind = IncidentDeviceDown
		inc.Title = displayName(d) + " mất kết nối"
		inc.TitleEN = displayName(d) + " down"
	}
	return inc
}

func powerCutIncident(c *commune, u *device, down int) *Incident {
	since := u.metricsAt
	if rs := u.rules[-1]; rs != nil && !rs.pending.IsZero() {
		since = rs.pending
	}
	inc := &Incident{ID: incidentID(c.code, u.id, since) + "-power", Unit: c.code, Kind: IncidentPowerCut,
		RootDevice: u.id, RootName: displayName(u), Affected: down, Since: since}
	inc.Title = "Mất điện — " + displayName(u) + " đang chạy pin"
	inc.TitleEN = "Power cut — " + displayName(u) + " on battery"
	if m, ok := u.metrics["runtime_min"]; ok {
		mm := m
		inc.UPSMinutes = &mm
		inc.Title += ", còn " + strconv.Itoa(int(m)) + " phút"
		inc.TitleEN += ", " + strconv.Itoa(int(m)) + " min left"
	}
	if down > 0 {
		inc.Title += " — " + strconv.Itoa(down) + " thiết bị ngừng hoạt động"
		inc.TitleEN += " — " + strconv.Itoa(down) + " " + plural(down, "device", "devices") + " down"
	}
	return inc
}

func agentIncident(c *commune, a *device, n int) *Incident {
	inc := &Incident{ID: incidentID(c.code, a.id, a.downSince), Unit: c.code, Kind: IncidentAgentOffline,
		RootDevice: a.id, RootName: displayName(a), Affected: n, Since: a.downSince}
	inc.Title = "Tác tử giám sát " + displayName(a) + " ngoại tuyến — " + strconv.Itoa(n) + " thiết bị không rõ trạng thái"
	inc.TitleEN = "Agent " + displayName(a) + " offline — " + strconv.Itoa(n) + " " + plural(n, "device", "devices") + " unknown (agent offline)"
	return inc
}

func incidentID(unit, dev string, since time.Time) string {
	if since.IsZero() {
		return unit + "-" + dev
	}
	return unit + "-" + dev + "-" + strconv.Itoa(int(since.Unix()))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// tick re-evaluates timeouts, flapping windows and maintenance; called
// every second.
func (s *state) tick(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.communes {
		changed := false
		for _, d := range c.devices {
			if d.registration == RegIgnored {
				continue
			}
			if s.evaluateLocked(d, now) {
				changed = true
			}
			if d.status == StatusFlapping && !s.flappingLocked(d, now) {
				changed = true
			}
			if !d.graceUntil.IsZero() && !now.Before(d.graceUntil) {
				changed = true
			}
			if d.maintenance != s.inMaintenanceLocked(d, now) {
				changed = true
			}
			if d.kind == "ups" && d.metrics["on_battery"] >= 1 {
				changed = true // a power cut's UPS data may have gone stale
			}
		}
		if changed {
			s.recomputeLocked(c, now)
			s.markLocked(c.code, true)
		}
	}
	if !s.broker.grewAt.IsZero() && now.Sub(s.broker.grewAt) > 10*time.Minute {
		s.broker.grewAt = time.Time{}
		s.markAllLocked()
	}
}

func (s *state) markAllLocked() {
	for code := range s.communes {
		s.markLocked(code, true)
	}
}

// brokerDroppedLocked takes the broker's drop counter ($SYS, counted since
// the broker started). Any drop is an alarm: when the counter grows, and
// when the first reading is already above zero (the hub's session may
// have lost messages before the hub looked).
func (s *state) brokerDroppedLocked(n int64, now time.Time) {
	b := &s.broker
	first := b.sysSeen.IsZero()
	b.sysSeen = now
	if (first && n > 0) || (!first && n > b.last) {
		b.grewAt = now
		s.markAllLocked()
	}
	b.last = n // a restarted broker starts again from zero
}

// addLost counts messages the hub could not keep, shown on the wall.
func (s *state) addLost(n int64) {
	s.mu.Lock()
	s.broker.lost += n
	s.markAllLocked()
	s.mu.Unlock()
}

func (s *state) setConnected(ok bool) { s.setLink(ok, time.Now()) }

// setLink records the hub's connection to its broker going up or down.
func (s *state) setLink(ok bool, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.link.up != ok {
		s.link.up = ok
		if ok {
			s.link.since = now
		}
	}
	if s.broker.connected != ok {
		s.broker.connected = ok
		s.markAllLocked()
	}
}

// snapshot builds the bus payload of one commune.
func (s *state) snapshot(code string, now time.Time) *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.communes[code]
	snap := &Snapshot{Unit: code, AsOf: now, Incidents: []Incident{}, Alarms: []AlarmBrief{}}
	snap.Broker = BrokerInfo{Dropped: s.broker.last, Lost: s.broker.lost, Connected: s.broker.connected}
	if !s.broker.grewAt.IsZero() {
		snap.Alarms = append(snap.Alarms, AlarmBrief{ID: "broker-dropped", Device: "broker", Metric: "dropped",
			Severity: "critical", State: AlarmActiveUnack, Since: s.broker.grewAt, Value: float64(snap.Broker.Dropped)})
	}
	if c == nil {
		return snap
	}
	for _, d := range c.devices {
		if d.registration == RegIgnored {
			continue
		}
		switch d.status {
		case StatusOnline:
			snap.Counts.Online++
		case StatusOffline:
			snap.Counts.Offline++
		case StatusUnreachable:
			snap.Counts.Unreachable++
		case StatusFlapping:
			snap.Counts.Flapping++
		case StatusUnregistered:
			snap.Counts.Unregistered++
		default:
			snap.Counts.Unknown++
		}
		snap.Devices.Total++
		if d.maintenance {
			snap.Devices.Maintenance++
		}
		if !d.lastSeen.IsZero() && (snap.Devices.LastSeen == nil || d.lastSeen.After(*snap.Devices.LastSeen)) {
			t := d.lastSeen
			snap.Devices.LastSeen = &t
		}
		if d.known && d.up { // reachable now, registered or not
			if v, ok := d.metrics["latency_ms"]; ok {
				snap.Devices.LatencyMS = addStat(snap.Devices.LatencyMS, v)
			}
			if v, ok := d.metrics["loss_pct"]; ok {
				snap.Devices.LossPct = addStat(snap.Devices.LossPct, v)
			}
		}
	}
	for _, st := range []*Stat{snap.Devices.LatencyMS, snap.Devices.LossPct} {
		if st != nil {
			st.Avg = roundMetric(st.Avg)
		}
	}
	for _, inc := range c.incidents {
		snap.Incidents = append(snap.Incidents, *inc)
	}
	sort.Slice(snap.Incidents, func(i, j int) bool { return snap.Incidents[i].Since.Before(snap.Incidents[j].Since) })
	for _, a := range c.alarms {
		snap.Alarms = append(snap.Alarms, AlarmBrief{ID: a.ID, Device: a.Device, Metric: a.Metric, Severity: a.Severity,
			State: a.State, Since: a.Since, Value: a.Value})
	}
	sort.Slice(snap.Alarms, func(i, j int) bool { return snap.Alarms[i].Since.Before(snap.Alarms[j].Since) })
	return snap
}

// addStat adds v to a running average and maximum.
func addStat(st *Stat, v float64) *Stat {
	if st == nil {
		return &Stat{Avg: v, Max: v, N: 1}
	}
	st.Avg += (v - st.Avg) / float64(st.N+1)
	st.N++
	st.Max = max(st.Max, v)
	return st
}

// takeDirty returns and clears the communes to republish (true: urgent).
func (s *state) takeDirty() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]bool, len(s.dirty))
	for code, urgent := range s.dirty {
		out[code] = urgent
	}
	clear(s.dirty)
	return out
}

func (s *state) viewLocked(d *device) DeviceView {
	v := DeviceView{ID: d.id, Unit: d.unit, Name: d.name, Kind: d.kind, IP: d.ip, MAC: d.mac, Location: d.location,
		Parent: d.parent, Agent: d.agent, Registration: d.registration, Status: d.status, Reason: d.reason,
		IntervalS: int(s.interval(d) / time.Second), Maintenance: d.maintenance, Metrics: make(map[string]float64, len(d.metrics))}
	if v.Status == "" {
		v.Status = StatusUnknown
	}
	if d.registration == RegIgnored {
		v.Status = RegIgnored
	}
	if !d.lastSeen.IsZero() {
		t := d.lastSeen
		v.LastSeen = &t
	}
	for k, val := range d.metrics {
		v.Metrics[k] = val
	}
	return v
}

// list returns the devices of unit (every unit when empty), ignored ones
// only when asked.
func (s *state) list(unit string, withIgnored bool) []DeviceView {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []DeviceView
	for code, c := range s.communes {
		if unit != "" && code != unit {
			continue
		}
		for _, d := range c.devices {
			if d.registration == RegIgnored && !withIgnored {
				continue
			}
			out = append(out, s.viewLocked(d))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Unit != out[j].Unit {
			return out[i].Unit < out[j].Unit
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// get returns one device.
func (s *state) get(unit, id string) (DeviceView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.communes[unit]
	if c == nil || c.devices[id] == nil {
		return DeviceView{}, false
	}
	return s.viewLocked(c.devices[id]), true
}

// incidents returns the open incidents of unit (all when empty).
func (s *state) openIncidents(unit string) []Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Incident
	for code, c := range s.communes {
		if unit != "" && code != unit {
			continue
		}
		for _, inc := range c.incidents {
			out = append(out, *inc)
		}
	}
	return out
}

// setRegistration adopts (with optional new meta) or ignores a device.
func (s *state) setRegistration(unit, id, reg string, meta *Meta, now time.Time) (DeviceView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.communes[unit]
	if c == nil || c.devices[id] == nil {
		return DeviceView{}, false
	}
	d := c.devices[id]
	if meta != nil {
		if meta.IP == "" {
			meta.IP = d.ip
		}
		s.applyMetaLocked(c, d, meta)
	}
	d.registration = reg
	s.recomputeLocked(c, now)
	s.markLocked(unit, true)
	s.persist.device(d)
	return s.viewLocked(d), true
}

// setRulesAndWindows swaps the rule set and windows (reloaded from the database).
func (s *state) setRulesAndWindows(rules []Rule, windows []Window, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules, s.windows = rules, windows
	for _, c := range s.communes {
		s.recomputeLocked(c, now)
		s.markLocked(c.code, true)
	}
}

// ackApplied mirrors an acknowledgement stored in the database.
func (s *state) ackApplied(a Alarm) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.communes[a.Unit]
	if c == nil {
		return
	}
	if cur := c.alarms[a.ID]; cur != nil {
		cur.State, cur.AckedBy, cur.AckedAt, cur.AckComment = a.State, a.AckedBy, a.AckedAt, a.AckComment
		s.markLocked(a.Unit, true)
	}
}

func newAlarmID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// evalRulesLocked runs the alarm rules over newly observed metrics.
func (s *state) evalRulesLocked(c *commune, d *device, metrics map[string]float64, now time.Time) {
	if d.kind == "ups" {
		// Track when the UPS went on battery (rule -1 is internal).
		rs := d.rules[-1]
		if rs == nil {
			rs = &ruleState{}
			d.rules[-1] = rs
		}
		if metrics["on_battery"] >= 1 {
			if rs.pending.IsZero() {
				rs.pending = now
			}
		} else if _, ok := metrics["on_battery"]; ok {
			rs.pending = time.Time{}
		}
	}
	for metric, v := range metrics {
		r := s.ruleForLocked(d, metric)
		if r == nil {
			continue
		}
		rs := d.rules[r.ID]
		if rs == nil {
			rs = &ruleState{}
			d.rules[r.ID] = rs
		}
		cond, clearCond := v > r.Threshold, v < r.ClearThreshold
		if r.Op == "<" {
			cond, clearCond = v < r.Threshold, v > r.ClearThreshold
		}
		switch {
		case cond:
			if rs.pending.IsZero() {
				rs.pending = now
			}
			if rs.alarm == nil && now.Sub(rs.pending) >= time.Duration(r.ForS)*time.Second && !s.inMaintenanceLocked(d, now) {
				a := &Alarm{ID: newAlarmID(), Unit: d.unit, Device: d.id, RuleID: r.ID, Metric: metric,
					Severity: r.Severity, State: AlarmActiveUnack, Value: v, Since: now}
				rs.alarm = a
				c.alarms[a.ID] = a
				s.persist.alarm(a)
			} else if rs.alarm != nil {
				rs.alarm.Value = v
			}
		default:
			rs.pending = time.Time{}
			if rs.alarm != nil && clearCond {
				a := rs.alarm
				t := now
				a.State, a.ClearedAt, a.Value = AlarmCleared, &t, v
				s.persist.alarm(a)
				delete(c.alarms, a.ID)
				rs.alarm = nil
			}
		}
	}
}

// ruleForLocked picks the most specific enabled rule for metric on d.
func (s *state) ruleForLocked(d *device, metric string) *Rule {
	var best *Rule
	bestScore := -1
	for i := range s.rules {
		r := &s.rules[i]
		if !r.Enabled || r.Metric != metric {
			continue
		}
		if r.Unit != nil && *r.Unit != d.unit || r.Device != nil && *r.Device != d.id || r.Kind != nil && *r.Kind != d.kind {
			continue
		}
		score := 0
		if r.Unit != nil {
			score++
		}
		if r.Kind != nil {
			score += 2
		}
		if r.Device != nil {
			score += 4
		}
		if score > bestScore {
			best, bestScore = r, score
		}
	}
	return best
}

// load fills the state from stored devices, open incidents and active alarms.
func (s *state) load(devs []storedDevice, incs []Incident, alarms []Alarm) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sd := range devs {
		c := s.communeLocked(sd.Unit)
		d, _ := s.deviceLocked(c, sd.ID)
		d.name, d.kind, d.ip, d.mac, d.location, d.parent = sd.Name, sd.Kind, sd.IP, sd.MAC, sd.Location, sd.Parent
		d.intervalS, d.registration, d.agent, d.status = sd.IntervalS, sd.Registration, sd.Agent, sd.Status
		d.regRev = sd.RegRev
		if sd.LastSeen != nil {
			d.lastSeen = *sd.LastSeen
		}
		if sd.ReportedAt != nil {
			d.reported, d.reportedAt = sd.Reported, *sd.ReportedAt
		}
		for k, v := range sd.Metrics {
			d.metrics[k] = v
		}
		if d.ip != "" {
			c.byIP[d.ip] = d.id
		}
	}
	for i := range incs {
		inc := incs[i]
		s.communeLocked(inc.Unit).incidents[inc.ID] = &inc
	}
	for i := range alarms {
		a := alarms[i]
		c := s.communeLocked(a.Unit)
		c.alarms[a.ID] = &a
		if d := c.devices[a.Device]; d != nil {
			d.rules[a.RuleID] = &ruleState{alarm: &a}
		}
	}
	for code := range s.communes {
		s.markLocked(code, true)
	}
}

// units returns the communes the state knows.
func (s *state) units() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.communes))
	for code := range s.communes {
		out = append(out, code)
	}
	sort.Strings(out)
	return out
}

// persistSeen queues the rows of devices heard from since the last call,
// so that last_seen and the latest metrics survive a restart.
func (s *state) persistSeen() {
	s.mu.Lock()
	defer s.mu.Unlock()
	mark := s.seenMark
	s.seenMark = time.Now()
	for _, c := range s.communes {
		for _, d := range c.devices {
			if d.lastSeen.After(mark) && d.registration != RegIgnored {
				s.persist.device(d)
			}
		}
	}
}
