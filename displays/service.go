package displays

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/communehub/communehub/hub"
)

// Config is the displays settings. Zero values take the defaults. What
// the kernel provides (database, bus, auth, origins, instance id) comes in
// hub.Deps.
type Config struct {
	Build string // build id; a screen that sees it change reloads itself (staggered); default BuildID()

	Heartbeat      time.Duration            // ping period both ways; default 15s, at most 20s
	WriteWait      time.Duration            // deadline of one write; default 5s
	MaxQueue       int                      // bytes of unsent data per screen before it is cut off; default 1 MiB
	Window         int                      // messages a screen that reports what it read may be behind; default 2 (docs/display-protocol.md, "read")
	StatusInterval time.Duration            // how often changed screen status is written to the database; default 5s
	StatusEvery    time.Duration            // a live screen's row is rewritten at least this often (last seen, heap); default 30s
	PairingTTL     time.Duration            // life of a pairing code; default 15m
	ReloadSpread   time.Duration            // screens reload for a new build within this window; default 2m
	Stale          map[string]time.Duration // per topic kind (kpi, province_kpi, backlog, devices, meetings, meeting): age at which a tile turns stale
	MaxPairing     int                      // screens waiting for a code at once; default 500
	Schedule       time.Duration            // how often screen schedules are checked; default 20s
}

// DefaultStale is how old a topic's latest event may be before its tiles
// turn stale, per topic kind; 0 turns the check off. The values follow what
// each publisher promises (docs/display-protocol.md, "Freshness"):
// backlog republishes its snapshots at every Vietnam midnight at least;
// devices republishes on every change, and reporting devices change their
// latency every interval; meetings publishes only on change, so the age of
// its events says nothing and only the connection marks those tiles.
var DefaultStale = map[string]time.Duration{
	"kpi":          26 * time.Hour,
	"province_kpi": 26 * time.Hour,
	"backlog":      26 * time.Hour,
	"devices":      5 * time.Minute,
	"meetings":     0,
	"meeting":      0,
}

func (o *Config) defaults() {
	if o.Heartbeat <= 0 || o.Heartbeat > 20*time.Second {
		o.Heartbeat = 15 * time.Second
	}
	if o.WriteWait <= 0 {
		o.WriteWait = 5 * time.Second
	}
	if o.Window <= 0 {
		o.Window = 2
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = 1 << 20
	}
	if o.StatusInterval <= 0 {
		o.StatusInterval = 5 * time.Second
	}
	if o.StatusEvery <= 0 {
		o.StatusEvery = 30 * time.Second
	}
	if o.PairingTTL <= 0 {
		o.PairingTTL = 15 * time.Minute
	}
	if o.ReloadSpread <= 0 {
		o.ReloadSpread = 2 * time.Minute
	}
	if o.MaxPairing <= 0 {
		o.MaxPairing = 500
	}
	stale := make(map[string]time.Duration, len(DefaultStale))
	for k, v := range DefaultStale {
		stale[k] = v
	}
	for k, v := range o.Stale {
		stale[k] = v
	}
	o.Stale = stale
	if o.Schedule <= 0 {
		o.Schedule = 20 * time.Second
	}
	if o.Build == "" {
		o.Build = BuildID()
	}
}

// Service is the displays feature: the /ws/display fan-out, pairing, the
// REST API and pages, and its background workers (Run).
type Service struct {
	o       Config
	d       hub.Deps
	pol     policies // public screens' redaction, from the topics' declarations
	store   *store
	log     *slog.Logger
	metrics *metrics
	epoch   string // changes with every process: resume positions from another epoch get a snapshot
	limiter *pairLimiter

	mu        sync.RWMutex
	byTopic   map[string]map[*conn]struct{}
	byDisplay map[int64]map[*conn]struct{}
	byPairing map[string]map[*conn]struct{} // code → waiting screen(s) showing it
	conns     map[*conn]struct{}

	redactMu sync.Mutex
	redacted map[*hub.Event][]byte // public frames of recent events

	dirtyMu sync.Mutex
	dirty   map[*conn]struct{} // live sockets whose status is to write
	offline []offlineRow       // closed sockets to write offline
}

// New returns the service and declares its topics; mount it with Mount
// and start its workers with Run. The topics its walls show (DefaultStale's
// kinds) must be declared already, by the features that publish them.
func New(o Config, d hub.Deps) (*Service, error) {
	o.defaults()
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Instance == "" {
		d.Instance = "hub"
	}
	if err := d.Topics.Declare(controlFamilies...); err != nil {
		return nil, err
	}
	for kind := range DefaultStale {
		if f, ok := d.Topics.Kind(kind); !ok || f.Public == nil {
			return nil, fmt.Errorf("displays: no feature declares the %q topics walls show (with the fields public screens may see)", kind)
		}
	}
	e := make([]byte, 8)
	_, _ = rand.Read(e)
	s := &Service{
		o:         o,
		d:         d,
		pol:       policies{topics: d.Topics},
		store:     &store{pool: d.Pool},
		log:       d.Logger,
		epoch:     hex.EncodeToString(e),
		limiter:   newPairLimiter(10, time.Minute),
		byTopic:   map[string]map[*conn]struct{}{},
		byDisplay: map[int64]map[*conn]struct{}{},
		byPairing: map[string]map[*conn]struct{}{},
		conns:     map[*conn]struct{}{},
		redacted:  map[*hub.Event][]byte{},
		dirty:     map[*conn]struct{}{},
	}
	s.metrics = newMetrics(d.Metrics, s.connCount)
	return s, nil
}

func (s *Service) connCount() float64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return float64(len(s.conns))
}

// subscribePatterns are the bus topics the fan-out follows: every family
// screens show (declared with public fields) and the displays' own.
func (s *Service) subscribePatterns() []string {
	var p []string
	for _, f := range s.d.Topics.Families() {
		if f.Public != nil {
			p = append(p, f.Pattern)
		}
	}
	return append(p, "displays/#")
}

// Run runs the workers until ctx ends: the fan-out, the status writer
// (RunStatus) and the schedule (RunSchedule).
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, f := range []func(context.Context){s.runFanout, s.RunStatus, func(ctx context.Context) { s.RunSchedule(ctx, s.o.Schedule) }} {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	wg.Wait()
	return nil
}

// runFanout follows the bus and hands each event to the queues of the
// screens showing its topic, until ctx ends. When the bus drops it for
// falling behind, it subscribes again and every screen gets a fresh
// snapshot, so nothing is silently skipped.
func (s *Service) runFanout(ctx context.Context) {
	sub, err := s.d.Bus.Subscribe(s.subscribePatterns(), 256<<20)
	if err == nil {
		err = sub.Follow(ctx, func(evs []*hub.Event) {
			for _, ev := range evs {
				s.dispatch(ev)
			}
		}, func(reason error) {
			s.log.Warn("displays: fan-out fell behind the bus; resynchronising every screen", "err", reason)
			s.metrics.resyncs.Inc()
			s.resyncAll()
		})
	}
	if err != nil {
		s.log.Error("displays: subscribe", "err", err)
	}
}

// dispatch routes one event: data topics to the screens showing them,
// control topics to the screens they concern.
func (s *Service) dispatch(ev *hub.Event) {
	switch {
	case ev.Topic == topicCommands:
		var c Command
		if err := decodeLenient(ev.Data, &c); err != nil || c.DisplayID == 0 {
			s.log.Warn("displays: bad command event", "seq", ev.Seq, "err", err)
			return
		}
		s.forDisplay(c.DisplayID, func(cn *conn) { cn.w.Control(ctrlMsg{command: &c}) })
	case ev.Topic == topicPairings:
		var p struct {
			Code      string `json:"code"`
			DisplayID int64  `json:"display_id"`
		}
		if err := decodeLenient(ev.Data, &p); err != nil {
			return
		}
		s.mu.RLock()
		for cn := range s.byPairing[p.Code] {
			cn.w.Control(ctrlMsg{paired: p.DisplayID})
		}
		s.mu.RUnlock()
	case len(ev.Topic) > 9 && ev.Topic[:9] == "displays/":
		var d Display
		if err := decodeLenient(ev.Data, &d); err != nil || d.ID == 0 || topicConfig(d.ID) != ev.Topic {
			return
		}
		s.forDisplay(d.ID, func(cn *conn) { cn.w.Control(ctrlMsg{config: &d}) })
	default:
		s.mu.RLock()
		for cn := range s.byTopic[ev.Topic] {
			cn.w.Event(ev) // a screen that overflows is cut off and counted by its writer
		}
		s.mu.RUnlock()
	}
}

func (s *Service) forDisplay(id int64, f func(*conn)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for cn := range s.byDisplay[id] {
		f(cn)
	}
}

func (s *Service) resyncAll() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for cn := range s.conns {
		cn.w.Control(ctrlMsg{resync: true})
	}
}

// attach (re)registers cn as showing topics for display id (0: a screen
// waiting for pairing under code).
func (s *Service) attach(cn *conn, id int64, code string, topics []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.detachLocked(cn)
	s.conns[cn] = struct{}{}
	for _, t := range topics {
		m := s.byTopic[t]
		if m == nil {
			m = map[*conn]struct{}{}
			s.byTopic[t] = m
		}
		m[cn] = struct{}{}
	}
	cn.attached = topics
	if id != 0 {
		m := s.byDisplay[id]
		if m == nil {
			m = map[*conn]struct{}{}
			s.byDisplay[id] = m
		}
		m[cn] = struct{}{}
		cn.attachedID = id
	}
	if code != "" {
		m := s.byPairing[code]
		if m == nil {
			m = map[*conn]struct{}{}
			s.byPairing[code] = m
		}
		m[cn] = struct{}{}
		cn.attachedCode = code
	}
}

// detach removes cn from every index.
func (s *Service) detach(cn *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.detachLocked(cn)
	delete(s.conns, cn)
}

func (s *Service) detachLocked(cn *conn) {
	for _, t := range cn.attached {
		if m := s.byTopic[t]; m != nil {
			delete(m, cn)
			if len(m) == 0 {
				delete(s.byTopic, t)
			}
		}
	}
	cn.attached = nil
	if cn.attachedID != 0 {
		if m := s.byDisplay[cn.attachedID]; m != nil {
			delete(m, cn)
			if len(m) == 0 {
				delete(s.byDisplay, cn.attachedID)
			}
		}
		cn.attachedID = 0
	}
	if cn.attachedCode != "" {
		if m := s.byPairing[cn.attachedCode]; m != nil {
			delete(m, cn)
			if len(m) == 0 {
				delete(s.byPairing, cn.attachedCode)
			}
		}
		cn.attachedCode = ""
	}
}

// frame returns ev as a public or internal screen receives it. Public frames
// are redacted once per event and cached.
func (s *Service) frame(ev *hub.Event, class string) []byte {
	if class != Public {
		return ev.Frame()
	}
	s.redactMu.Lock()
	b, ok := s.redacted[ev]
	s.redactMu.Unlock()
	if ok {
		return b
	}
	b = eventFrame(ev.Topic, ev.Seq, ev.Time, redactPublic(s.pol.of(ev.Topic), ev.Data))
	s.redactMu.Lock()
	if len(s.redacted) >= 4096 {
		clear(s.redacted) // keeps memory flat; the current events are redone once
	}
	s.redacted[ev] = b
	s.redactMu.Unlock()
	return b
}

// position is a screen's place in its data: the sum of its topics' seqs.
// It only grows as events are published, so current − rendered is how many
// events a screen is behind.
func (s *Service) position(topics []string) uint64 {
	var p uint64
	for _, t := range topics {
		p += s.d.Bus.Seq(t)
	}
	return p
}

// ParseStale parses a COMMUNEHUB_DISPLAY_STALE value: comma-separated
// kind=duration pairs (kinds of DefaultStale; 0 turns the age check off for
// a kind whose publisher only publishes on change).
func ParseStale(v string) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	for _, pair := range strings.Split(v, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		k, d, ok := strings.Cut(pair, "=")
		if _, known := DefaultStale[k]; !ok || !known {
			return nil, fmt.Errorf("%q: want kind=duration with kind one of kpi, province_kpi, backlog, devices, meetings, meeting", pair)
		}
		dur, err := time.ParseDuration(d)
		if err != nil || dur < 0 {
			return nil, fmt.Errorf("%q: %q is not a duration ≥ 0", pair, d)
		}
		out[k] = dur
	}
	return out, nil
}
