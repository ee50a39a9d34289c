package devices

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

type lan struct {
	t  *testing.T
	st *state
}

func newLAN(t *testing.T) *lan {
	st := newState(StateConfig{}, nil, t0.Add(-time.Hour))
	return &lan{t: t, st: st}
}

func (l *lan) meta(at time.Time, id, kind, parent string) {
	l.st.apply(&message{kind: kindMeta, unit: "03244", device: id, received: at,
		meta: &Meta{Name: strings.ToUpper(id), Kind: kind, Parent: parent, IP: "10.0.0." + strconv.Itoa(len(id))}})
}

func (l *lan) status(at time.Time, id, s string) {
	l.st.apply(&message{kind: kindStatus, unit: "03244", device: id, received: at, status: s})
}

func (l *lan) tele(at time.Time, id string, metrics map[string]float64) {
	l.st.apply(&message{kind: kindTelemetry, unit: "03244", device: id, received: at,
		samples: []sample{{device: id, ts: at, source: "native", metrics: metrics}}})
}

func (l *lan) statusOf(id string) string {
	v, ok := l.st.get("03244", id)
	if !ok {
		l.t.Fatalf("no device %s", id)
	}
	return v.Status
}

func (l *lan) snap(at time.Time) *Snapshot { return l.st.snapshot("03244", at) }

// A core switch with 14 devices behind it (two access switches with 6 PCs
// each): when it fails, one incident names it and counts 14 unreachable.
func TestRootCauseCollapsesIntoOneIncident(t *testing.T) {
	l := newLAN(t)
	l.meta(t0, "router", "router", "")
	l.meta(t0, "core", "switch", "router")
	l.meta(t0, "sw-a", "switch", "core")
	l.meta(t0, "sw-b", "switch", "core")
	ids := []string{"router", "core", "sw-a", "sw-b"}
	for i := 0; i < 12; i++ {
		sw := "sw-a"
		if i >= 6 {
			sw = "sw-b"
		}
		id := "pc-" + strconv.Itoa(i)
		l.meta(t0, id, "pc", sw)
		ids = append(ids, id)
	}
	for _, id := range ids {
		l.status(t0, id, "online")
	}
	if s := l.snap(t0); s.Counts.Online != 16 || len(s.Incidents) != 0 {
		t.Fatalf("before: %+v %+v", s.Counts, s.Incidents)
	}
	// The core switch's last will, then nothing more from anything behind it.
	at := t0.Add(5 * time.Second)
	l.status(at, "core", "offline")
	if got := l.statusOf("core"); got != StatusOffline {
		t.Fatalf("core = %s", got)
	}
	for _, id := range ids[2:] {
		l.status(at.Add(time.Millisecond), id, "offline")
	}
	s := l.snap(at)
	if s.Counts.Offline != 1 || s.Counts.Unreachable != 14 || s.Counts.Online != 1 {
		t.Fatalf("counts %+v", s.Counts)
	}
	if len(s.Incidents) != 1 {
		t.Fatalf("incidents %+v", s.Incidents)
	}
	inc := s.Incidents[0]
	if inc.Kind != IncidentParentDown || inc.RootDevice != "core" || inc.Affected != 14 ||
		inc.TitleEN != "CORE down — 14 devices unreachable" {
		t.Fatalf("incident %+v", inc)
	}
	if v, _ := l.st.get("03244", "pc-3"); v.Status != StatusUnreachable || v.Reason != "parent core down" {
		t.Fatalf("pc-3 %+v", v)
	}
	// The core switch returns: what is behind it gets an interval to come
	// back before any of it is an incident of its own.
	back := at.Add(time.Second)
	l.status(back, "core", "online")
	if s := l.snap(back); len(s.Incidents) != 0 || s.Counts.Unreachable != 14 {
		t.Fatalf("right after the parent's return: %+v %+v", s.Counts, s.Incidents)
	}
	if v, _ := l.st.get("03244", "sw-a"); v.Status != StatusUnreachable || v.Reason != "parent core recovering" {
		t.Fatalf("sw-a %+v", v)
	}
	// Recovery closes it.
	for _, id := range ids[2:] {
		l.status(at.Add(time.Second), id, "online")
	}
	if s := l.snap(at.Add(time.Second)); len(s.Incidents) != 0 || s.Counts.Online != 16 {
		t.Fatalf("after recovery %+v %+v", s.Counts, s.Incidents)
	}
	// A device that does not come back within the interval becomes its own incident.
	l.status(at.Add(2*time.Second), "core", "offline")
	l.status(at.Add(2*time.Second), "pc-0", "offline")
	l.status(at.Add(3*time.Second), "core", "online")
	l.st.tick(at.Add(3*time.Second + 11*time.Second))
	if s := l.snap(at); len(s.Incidents) != 1 || s.Incidents[0].RootDevice != "pc-0" || s.Incidents[0].Kind != IncidentDeviceDown {
		t.Fatalf("after the grace: %+v", s.Incidents)
	}
}

func TestOfflineAfterThreeMissedIntervals(t *testing.T) {
	l := newLAN(t)
	l.meta(t0, "cam", "camera", "")
	l.tele(t0, "cam", map[string]float64{"latency_ms": 4})
	l.st.tick(t0.Add(29 * time.Second))
	if got := l.statusOf("cam"); got != StatusOnline {
		t.Fatalf("after 29s: %s", got)
	}
	l.st.tick(t0.Add(31 * time.Second))
	if got := l.statusOf("cam"); got != StatusOffline {
		t.Fatalf("after 31s: %s", got)
	}
	// A per-device interval from meta stretches it.
	l.st.apply(&message{kind: kindMeta, unit: "03244", device: "cam", received: t0.Add(32 * time.Second),
		meta: &Meta{Name: "cam", Kind: "camera", IntervalS: 60}})
	l.st.tick(t0.Add(3 * time.Minute))
	if got := l.statusOf("cam"); got != StatusOnline {
		t.Fatalf("with 60s interval after 2.5 min: %s", got)
	}
	// A per-kind interval applies to devices that do not give their own.
	kinds, err := ParseKindIntervals("printer=1m, ups=5m")
	if err != nil {
		t.Fatal(err)
	}
	l.st.cfg.KindInterval = kinds
	l.meta(t0, "printer", "printer", "")
	l.tele(t0, "printer", map[string]float64{"pages": 1})
	l.st.tick(t0.Add(150 * time.Second))
	if got := l.statusOf("printer"); got != StatusOnline {
		t.Fatalf("printer with a 1m kind interval after 150s: %s", got)
	}
	l.st.tick(t0.Add(181 * time.Second))
	if got := l.statusOf("printer"); got != StatusOffline {
		t.Fatalf("printer after 181s: %s", got)
	}
	for _, bad := range []string{"toaster=1m", "camera", "camera=fast", "camera=10ms"} {
		if _, err := ParseKindIntervals(bad); err == nil {
			t.Errorf("ParseKindIntervals(%q) accepted", bad)
		}
	}
}

func TestFlappingIsOneStatusNotAStream(t *testing.T) {
	l := newLAN(t)
	l.meta(t0, "ap", "ap", "")
	at := t0
	for i := 0; i < 5; i++ {
		l.status(at, "ap", "offline")
		at = at.Add(30 * time.Second)
		l.status(at, "ap", "online")
		at = at.Add(30 * time.Second)
	}
	if got := l.statusOf("ap"); got != StatusFlapping {
		t.Fatalf("status %s", got)
	}
	l.status(at, "ap", "offline")
	if s := l.snap(at); len(s.Incidents) != 0 || s.Counts.Flapping != 1 {
		t.Fatalf("flapping device raised %+v %+v", s.Counts, s.Incidents)
	}
	// Ten quiet minutes later it is an ordinary device again.
	l.status(at.Add(time.Second), "ap", "online")
	later := at.Add(11 * time.Minute)
	l.tele(later, "ap", map[string]float64{"latency_ms": 1})
	l.st.tick(later)
	if got := l.statusOf("ap"); got != StatusOnline {
		t.Fatalf("after quiet period: %s", got)
	}
}

func TestPowerCutFromUPS(t *testing.T) {
	l := newLAN(t)
	l.meta(t0, "ups", "ups", "")
	l.meta(t0, "router", "router", "")
	l.meta(t0, "pc-1", "pc", "router")
	for _, id := range []string{"ups", "router", "pc-1"} {
		l.status(t0, id, "online")
	}
	at := t0.Add(10 * time.Second)
	l.tele(at, "ups", map[string]float64{"on_battery": 1, "runtime_min": 12, "battery_pct": 80})
	l.status(at, "router", "offline")
	l.status(at, "pc-1", "offline")
	s := l.snap(at)
	if len(s.Incidents) != 1 {
		t.Fatalf("incidents %+v", s.Incidents)
	}
	inc := s.Incidents[0]
	if inc.Kind != IncidentPowerCut || inc.UPSMinutes == nil || *inc.UPSMinutes != 12 || inc.Affected != 2 ||
		!strings.Contains(inc.TitleEN, "12 min left") || !strings.Contains(inc.Title, "còn 12 phút") {
		t.Fatalf("incident %+v", inc)
	}
	// Power back: the UPS reports mains, the power-cut incident closes and the
	// still-down router is an ordinary incident.
	l.tele(at.Add(time.Minute), "ups", map[string]float64{"on_battery": 0, "runtime_min": 40})
	s = l.snap(at.Add(time.Minute))
	if len(s.Incidents) != 1 || s.Incidents[0].Kind != IncidentParentDown {
		t.Fatalf("after power back %+v", s.Incidents)
	}
}

func TestTelegrafAgentOfflineMakesItsDevicesUnknown(t *testing.T) {
	l := newLAN(t)
	l.meta(t0, "printer", "printer", "")
	l.st.apply(&message{kind: kindMeta, unit: "03244", device: "printer", received: t0,
		meta: &Meta{Name: "Printer", Kind: "printer", IP: "192.168.1.30"}})
	ping := func(at time.Time, ip string, loss float64) {
		l.st.apply(&message{kind: kindTelegraf, unit: "03244", device: "agent-pc", received: at,
			samples: []sample{{target: ip, ts: at, source: "ping", metrics: map[string]float64{"loss_pct": loss, "latency_ms": 2}}}})
	}
	ping(t0, "192.168.1.30", 0)
	ping(t0, "192.168.1.99", 0) // nobody registered has this address
	if got := l.statusOf("printer"); got != StatusOnline {
		t.Fatalf("printer %s", got)
	}
	if got := l.statusOf("192.168.1.99"); got != StatusUnregistered {
		t.Fatalf("unknown target %s", got)
	}
	ping(t0.Add(10*time.Second), "192.168.1.30", 100)
	if got := l.statusOf("printer"); got != StatusOffline {
		t.Fatalf("printer after failed ping %s", got)
	}
	ping(t0.Add(20*time.Second), "192.168.1.30", 0)
	// The agent's will: its targets are unknown, not down.
	l.status(t0.Add(25*time.Second), "agent-pc", "offline")
	if v, _ := l.st.get("03244", "printer"); v.Status != StatusUnknown || v.Reason != "agent offline" {
		t.Fatalf("printer %+v", v)
	}
	s := l.snap(t0.Add(25 * time.Second))
	if len(s.Incidents) != 1 || s.Incidents[0].Kind != IncidentAgentOffline || s.Incidents[0].Affected != 1 {
		t.Fatalf("incidents %+v", s.Incidents)
	}
	// Adopt the unregistered device.
	v, ok := l.st.setRegistration("03244", "192.168.1.99", RegRegistered, &Meta{Name: "NVR", Kind: "camera"}, t0.Add(26*time.Second))
	if !ok || v.Registration != RegRegistered || v.IP != "192.168.1.99" || v.Status != StatusUnknown {
		t.Fatalf("adopted %+v", v)
	}
}

func TestAlarmForDurationHysteresisAndMaintenance(t *testing.T) {
	l := newLAN(t)
	l.st.setRulesAndWindows([]Rule{{ID: 1, Metric: "latency_ms", Op: ">", Threshold: 100, ClearThreshold: 80, ForS: 60,
		Severity: "warning", Enabled: true}}, nil, t0)
	l.meta(t0, "router", "router", "")
	l.tele(t0, "router", map[string]float64{"latency_ms": 150})
	l.tele(t0.Add(30*time.Second), "router", map[string]float64{"latency_ms": 150})
	if s := l.snap(t0); len(s.Alarms) != 0 {
		t.Fatalf("raised before 60s: %+v", s.Alarms)
	}
	l.tele(t0.Add(61*time.Second), "router", map[string]float64{"latency_ms": 160})
	s := l.snap(t0.Add(61 * time.Second))
	if len(s.Alarms) != 1 || s.Alarms[0].State != AlarmActiveUnack || s.Alarms[0].Severity != "warning" {
		t.Fatalf("alarms %+v", s.Alarms)
	}
	// Between the thresholds: stays active (hysteresis).
	l.tele(t0.Add(70*time.Second), "router", map[string]float64{"latency_ms": 90})
	if s := l.snap(t0); len(s.Alarms) != 1 {
		t.Fatalf("cleared inside the hysteresis band: %+v", s.Alarms)
	}
	l.tele(t0.Add(80*time.Second), "router", map[string]float64{"latency_ms": 50})
	if s := l.snap(t0); len(s.Alarms) != 0 {
		t.Fatalf("not cleared below clear threshold: %+v", s.Alarms)
	}
	// A maintenance window mutes new alarms but data still arrives.
	l.st.setRulesAndWindows(l.st.rules, []Window{{ID: 1, Unit: "03244", StartsAt: t0, EndsAt: t0.Add(time.Hour)}}, t0.Add(85*time.Second))
	for i := 0; i < 5; i++ {
		l.tele(t0.Add(time.Duration(90+i*30)*time.Second), "router", map[string]float64{"latency_ms": 300})
	}
	if s := l.snap(t0); len(s.Alarms) != 0 {
		t.Fatalf("alarm raised during maintenance: %+v", s.Alarms)
	}
	if v, _ := l.st.get("03244", "router"); v.Metrics["latency_ms"] != 300 || !v.Maintenance {
		t.Fatalf("maintenance device %+v", v)
	}
}

func TestBrokerDropsRaiseAWallAlarm(t *testing.T) {
	l := newLAN(t)
	l.meta(t0, "router", "router", "")
	l.st.apply(&message{kind: kindSysDropped, received: t0, dropped: 0})
	if s := l.snap(t0); s.Broker.Dropped != 0 || len(s.Alarms) != 0 {
		t.Fatalf("no drops: %+v %+v", s.Broker, s.Alarms)
	}
	l.st.apply(&message{kind: kindSysDropped, received: t0.Add(10 * time.Second), dropped: 30})
	s := l.snap(t0)
	if s.Broker.Dropped != 30 || len(s.Alarms) != 1 || s.Alarms[0].ID != "broker-dropped" || s.Alarms[0].Severity != "critical" {
		t.Fatalf("after growth: %+v %+v", s.Broker, s.Alarms)
	}
	l.st.tick(t0.Add(11 * time.Minute))
	if s := l.snap(t0); len(s.Alarms) != 0 || s.Broker.Dropped != 30 {
		t.Fatalf("after 10 quiet minutes: %+v %+v", s.Broker, s.Alarms)
	}
	// A hub that starts against a broker that has already dropped raises it too.
	l2 := newLAN(t)
	l2.meta(t0, "router", "router", "")
	l2.st.apply(&message{kind: kindSysDropped, received: t0, dropped: 7})
	if s := l2.snap(t0); s.Broker.Dropped != 7 || len(s.Alarms) != 1 {
		t.Fatalf("first reading above zero: %+v %+v", s.Broker, s.Alarms)
	}
}

func TestACommuneHoldsABoundedNumberOfDevices(t *testing.T) {
	l := newLAN(t)
	for i := 0; i < DefaultMaxDevicesPerCommune; i++ {
		l.tele(t0, "d"+strconv.Itoa(i), map[string]float64{"a": 1})
	}
	if l.st.accepts("03244", "one-more") {
		t.Fatal("a full commune accepts a new device")
	}
	if !l.st.accepts("03244", "d7") || !l.st.accepts("03199", "x") {
		t.Fatal("known devices and other communes must still be accepted")
	}
	// Telegraf targets are bounded too.
	l.st.apply(&message{kind: kindTelegraf, unit: "03244", device: "d1", received: t0,
		samples: []sample{{target: "10.9.9.9", ts: t0, source: "ping", metrics: map[string]float64{"loss_pct": 0}}}})
	if _, ok := l.st.get("03244", "10.9.9.9"); ok {
		t.Fatal("a full commune took a new Telegraf target")
	}
	// The bound is a setting (COMMUNEHUB_DEVICE_MAX_PER_COMMUNE).
	small := &lan{t: t, st: newState(StateConfig{MaxDevices: 3}, nil, t0.Add(-time.Hour))}
	for _, id := range []string{"a", "b", "c"} {
		small.tele(t0, id, map[string]float64{"a": 1})
	}
	if small.st.accepts("03244", "d") || !small.st.accepts("03244", "c") {
		t.Fatal("MaxDevices 3: the 4th device must be refused, the 3rd still taken")
	}
}

// A device whose last will said "offline" stays offline across a hub
// restart: its report is stored with it, so the restarted hub does not
// call it online because its last telemetry is recent (it did, for up to
// three intervals, and closed and reopened its incident).
func TestWillOfflineSurvivesARestart(t *testing.T) {
	l := newLAN(t)
	l.meta(t0, "sw-2", "switch", "")
	l.tele(t0, "sw-2", map[string]float64{"latency_ms": 2})
	l.status(t0.Add(2*time.Second), "sw-2", "offline")
	l.st.tick(t0.Add(3 * time.Second))
	if got := l.statusOf("sw-2"); got != StatusOffline {
		t.Fatalf("after its will: %s", got)
	}
	row, ok := l.st.row("03244", "sw-2")
	if !ok {
		t.Fatal("no row")
	}
	restarted := newState(StateConfig{}, nil, t0.Add(5*time.Second))
	restarted.load([]storedDevice{row}, nil, nil)
	for _, at := range []time.Duration{6 * time.Second, 15 * time.Second, 40 * time.Second} {
		restarted.tick(t0.Add(at))
		if v, _ := restarted.get("03244", "sw-2"); v.Status != StatusOffline {
			t.Fatalf("restarted, at +%s: %s, want offline", at, v.Status)
		}
	}
	// Its birth message after the restart brings it back.
	restarted.apply(&message{kind: kindStatus, unit: "03244", device: "sw-2", received: t0.Add(41 * time.Second), status: "online"})
	restarted.tick(t0.Add(42 * time.Second))
	if v, _ := restarted.get("03244", "sw-2"); v.Status != StatusOnline {
		t.Fatalf("after its birth: %s", v.Status)
	}
}
