package devices

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/communehub/communehub/hub"
)

// Config is the devices component's part of the hub configuration.
type Config struct {
	URL             string                   // external broker; empty: use one answering on Listen, else run one there
	Listen          string                   // embedded broker address (default 127.0.0.1:1883)
	ClientID        string                   // fixed client id for the external broker's persistent session; empty: defaultClientID
	ClientIDFile    string                   // where the default client id is made once and kept (e.g. {data dir}/mqtt-client-id)
	TelegrafPrefix  string                   // topic prefix of Telegraf agents (default "telegraf"; "-" disables)
	SharedGroup     string                   // subscribe through $share/{group}/… so several hubs split the load
	AllowAnonymous  bool                     // embedded broker: accept clients without credentials (demo only)
	QueueRows       int                      // telemetry rows held in memory before backpressure (default 100,000)
	Interval        time.Duration            // default reporting interval (default 10s; offline after 3 missed)
	KindIntervals   map[string]time.Duration // reporting interval per device kind, e.g. camera: 30s
	RawRetention    time.Duration            // raw telemetry kept (default 90 days)
	HourlyRetention time.Duration            // hourly rollups kept (default 2 years)
	PublishGap      time.Duration            // minimum time between two snapshots of one commune (default 10ms)
	MaxPacket       int                      // embedded broker: largest MQTT packet after login, bytes (default 256 KiB)
	ConnectTimeout  time.Duration            // embedded broker: a new connection must send its CONNECT within this (default 10s)
	Guard           hub.ListenOptions        // the embedded broker's port: connection caps, accept retry, metrics
	SpoolDir        string                   // embedded broker: durable spool of acknowledged telemetry; empty: ack after commit
	SpoolBytes      int64                    // the spool's bound; when full, publishers are held (default 1 GiB)
	// MaxDevicesPerCommune: devices one commune may have; a message from one
	// more is rejected as too_many_devices (default 2,000).
	MaxDevicesPerCommune int
	// Instance names this hub among those on one database (COMMUNEHUB_INSTANCE_ID).
	Instance string
}

func (c *Config) defaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:1883"
	}
	switch c.TelegrafPrefix {
	case "":
		c.TelegrafPrefix = "telegraf"
	case "-":
		c.TelegrafPrefix = ""
	}
	if c.QueueRows <= 0 {
		c.QueueRows = 100_000
	}
	if c.Interval <= 0 {
		c.Interval = 10 * time.Second
	}
	if c.RawRetention <= 0 {
		c.RawRetention = 90 * 24 * time.Hour
	}
	if c.HourlyRetention <= 0 {
		c.HourlyRetention = 2 * 365 * 24 * time.Hour
	}
	if c.PublishGap <= 0 {
		c.PublishGap = 10 * time.Millisecond
	}
	if c.MaxPacket <= 0 {
		c.MaxPacket = DefaultMaxPacket
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.SpoolBytes <= 0 {
		c.SpoolBytes = 1 << 30
	}
}

// ParseKindIntervals reads "camera=30s,ups=1m" into per-kind intervals.
func ParseKindIntervals(v string) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		kind, dur, ok := strings.Cut(part, "=")
		if !ok || !deviceKinds[kind] {
			return nil, fmt.Errorf("%q: want kind=duration with kind one of router, switch, ap, camera, pc, printer, ups, agent, other", part)
		}
		d, err := time.ParseDuration(dur)
		if err != nil || d < time.Second || d > 24*time.Hour {
			return nil, fmt.Errorf("%q: the interval must be a duration from 1s to 24h", part)
		}
		out[kind] = d
	}
	return out, nil
}

// Service is the devices component: broker connection or embedded broker,
// ingest, state, writer, API and page.
type Service struct {
	cfg  Config
	pool *pgxpool.Pool
	bus  *hub.Bus
	log  *slog.Logger
	m    *metrics
	st   *state
	w    *writer
	p    *persister
	in   *ingest
	auth *authenticator

	paho     []*pahoSource // the broker connections: one, or two with a shared group (statuses; shared telemetry)
	seen     *seenShare    // with a shared group: last-seen times exchanged with the other instances
	seqs     *topicSeqs    // device topics' seqs (seq.go); owned by publishLoop
	broker   *embedded
	spool    *spool
	mode     string // "external", "local", "embedded"
	startCtx context.Context
	cancel   context.CancelFunc
	started  atomic.Bool // Start has returned nil
}

// New builds the component and declares its topics and readiness checks;
// Start loads and connects it.
func New(cfg Config, d hub.Deps) (*Service, error) {
	cfg.defaults()
	if err := DeclareTopics(d.Topics); err != nil {
		return nil, err
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var reg prometheus.Registerer
	if d.Metrics != nil {
		reg = d.Metrics.Registry
	}
	m := newMetrics(reg)
	p := newPersister(d.Pool, log)
	st := newState(StateConfig{Interval: cfg.Interval, KindInterval: cfg.KindIntervals, MaxDevices: cfg.MaxDevicesPerCommune}, p, time.Now())
	w := newWriter(d.Pool, log, m, st, cfg.QueueRows)
	s := &Service{cfg: cfg, pool: d.Pool, bus: d.Bus, log: log, m: m, st: st, w: w, p: p, seqs: newTopicSeqs(time.Now())}
	s.in = &ingest{st: st, w: w, m: m, rl: newRejectLog(log), telegraf: cfg.TelegrafPrefix,
		maxAge: cfg.RawRetention, now: time.Now}
	s.auth = newAuthenticator(d.Pool, cfg.AllowAnonymous, cfg.TelegrafPrefix)
	if d.Ready != nil {
		d.Ready.Add("mqtt", s.ReadyMQTT)
		d.Ready.Add("ingest", s.ReadyIngest)
	}
	return s, nil
}

// Start loads the stored state and connects to MQTT: the configured broker;
// else a broker already answering on Listen; else an embedded broker there.
// Ingest runs from here on; Run starts the workers that store and publish.
func (s *Service) Start(ctx context.Context) error {
	if err := s.start(ctx); err != nil {
		return err
	}
	s.started.Store(true) // after start set paho or broker: ReadyMQTT reads them from here on
	return nil
}

func (s *Service) start(ctx context.Context) error {
	ictx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.startCtx, s.cancel = ictx, cancel
	if err := s.load(ctx); err != nil {
		cancel()
		return fmt.Errorf("devices: load state: %w", err)
	}
	switch {
	case s.cfg.URL != "":
		s.mode = "external"
	case answers(s.cfg.Listen):
		s.mode = "local"
	default:
		s.mode = "embedded"
	}
	if s.mode != "embedded" && s.cfg.ClientID == "" {
		id, made, err := defaultClientID(s.cfg.ClientIDFile)
		if err != nil {
			cancel()
			return err
		}
		if made {
			// A new id is a new session on the broker: keep the file (the
			// data dir) so that restarts find what the broker kept for it.
			s.log.Info("mqtt: made this installation's client id", "client_id", id, "file", s.cfg.ClientIDFile)
		}
		s.cfg.ClientID = id
	}
	switch s.mode {
	case "external":
		s.log.Info("mqtt: using the broker COMMUNEHUB_MQTT_URL names", "url", redactMQTT(s.cfg.URL), "client_id", s.cfg.ClientID)
		return s.startPaho(s.cfg.URL)
	case "local":
		s.log.Warn("mqtt: COMMUNEHUB_MQTT_URL is unset and a broker already answers on COMMUNEHUB_MQTT_LISTEN: "+
			"using that broker, not the embedded one (set COMMUNEHUB_MQTT_URL to name a broker, "+
			"or COMMUNEHUB_MQTT_LISTEN to a free address to run the embedded one)",
			"addr", s.cfg.Listen, "client_id", s.cfg.ClientID)
		return s.startPaho("tcp://" + s.cfg.Listen)
	}
	if err := s.auth.reload(ctx); err != nil {
		cancel()
		return fmt.Errorf("devices: load broker credentials: %w", err)
	}
	if s.cfg.SpoolDir != "" {
		sp, err := openSpool(s.cfg.SpoolDir, s.cfg.SpoolBytes, s.w, s.m, s.log)
		if err != nil {
			cancel()
			return fmt.Errorf("devices: MQTT spool in %s (under COMMUNEHUB_DATA_DIR): %w", s.cfg.SpoolDir, err)
		}
		s.spool, s.in.sp, s.w.sp = sp, sp, sp
	}
	b, err := startEmbedded(ictx, s.cfg.Listen, s.cfg.Guard, s.in, s.auth, s.st, s.m, s.log,
		brokerLimits{maxPacket: s.cfg.MaxPacket, connectTimeout: s.cfg.ConnectTimeout})
	if err != nil {
		if s.spool != nil {
			s.spool.close()
		}
		cancel()
		return fmt.Errorf("embedded MQTT broker on %s (COMMUNEHUB_MQTT_LISTEN): %w", s.cfg.Listen, err)
	}
	s.broker = b
	s.log.Info("mqtt: embedded broker started: COMMUNEHUB_MQTT_URL is unset and no broker answered on COMMUNEHUB_MQTT_LISTEN",
		"addr", b.addr, "anonymous", s.cfg.AllowAnonymous)
	return nil
}

func (s *Service) startPaho(url string) error {
	ps, err := newPahoSources(url, s.cfg.ClientID, s.cfg.TelegrafPrefix, s.cfg.SharedGroup, s.in, s.st, s.m, s.log)
	if err != nil {
		s.cancel()
		return err
	}
	s.paho = ps
	if s.cfg.SharedGroup != "" {
		s.st.shareSeen()
		s.seen = &seenShare{pool: s.pool, st: s.st, instance: s.cfg.Instance + "-" + newAlarmID()}
	}
	for _, p := range ps {
		p.start(s.startCtx)
	}
	return nil
}

// BrokerAddr is the host:port of the broker in use, for simulators.
func (s *Service) BrokerAddr() string {
	if s.broker != nil {
		return s.broker.addr // the port it got, when Listen asked for any (":0")
	}
	if s.mode == "external" {
		if i := strings.Index(s.cfg.URL, "://"); i >= 0 {
			host := s.cfg.URL[i+3:]
			if j := strings.LastIndex(host, "@"); j >= 0 {
				host = host[j+1:]
			}
			return host
		}
	}
	return s.cfg.Listen
}

// Mode says which broker is in use: "external", "local" or "embedded".
func (s *Service) Mode() string { return s.mode }

func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

func redactMQTT(u string) string {
	if i, j := strings.Index(u, "://"), strings.LastIndex(u, "@"); i >= 0 && j > i {
		return u[:i+3] + "***@" + u[j+1:]
	}
	return u
}

func (s *Service) load(ctx context.Context) error {
	var codes []string
	rows, err := s.pool.Query(ctx, `SELECT code FROM admin_units WHERE level='commune' AND valid_to IS NULL`)
	if err != nil {
		return err
	}
	codes, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	if len(codes) > 0 {
		s.in.units = make(map[string]bool, len(codes))
		for _, c := range codes {
			s.in.units[c] = true
		}
	}
	rows, err = s.pool.Query(ctx, `SELECT unit, id, name, kind, ip, mac, location, parent, interval_s, registration, agent,
		status, last_seen, metrics, reg_rev, reported, reported_at FROM devices`)
	if err != nil {
		return err
	}
	devs, err := pgx.CollectRows(rows, pgx.RowToStructByName[storedDevice])
	if err != nil {
		return err
	}
	incs, err := queryIncidents(ctx, s.pool, "", true, 10000)
	if err != nil {
		return err
	}
	alarms, err := queryAlarms(ctx, s.pool, "", "active", 10000)
	if err != nil {
		return err
	}
	s.st.load(devs, incs, alarms)
	return s.reloadRules(ctx)
}

func (s *Service) reloadRules(ctx context.Context) error {
	rules, err := queryRules(ctx, s.pool)
	if err != nil {
		return err
	}
	windows, err := queryWindows(ctx, s.pool, "", time.Now())
	if err != nil {
		return err
	}
	s.st.setRulesAndWindows(rules, windows, time.Now())
	return nil
}

// Run runs the workers until ctx ends, then stops the broker connection
// first (nothing new comes in), drains the writer and saves the state.
func (s *Service) Run(ctx context.Context) error {
	done := make(chan struct{}, 7)
	wctx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	go func() { s.w.run(wctx); done <- struct{}{} }()
	go func() { s.p.run(wctx); done <- struct{}{} }()
	go func() { s.publishLoop(wctx); done <- struct{}{} }()
	go func() { s.tickLoop(wctx); done <- struct{}{} }()
	n := 4
	for _, p := range s.paho {
		go func() { p.run(wctx); done <- struct{}{} }()
		n++
	}
	if s.seen != nil {
		go func() {
			ll := newLimitedLog(s.log, time.Minute) // it retries every second: say so once a minute
			s.seen.run(wctx, func(err error) {
				ll.warn("seen", "devices: sharing last-seen times, alarms and registrations with the other instances failed; retrying", "err", err)
			})
			done <- struct{}{}
		}()
		n++
	}
	<-ctx.Done()
	s.cancel() // publishers waiting for queue room give up, unacknowledged
	for _, p := range s.paho {
		p.stop()
	}
	if s.broker != nil {
		s.broker.stop()
	}
	stopWorkers()
	for range n {
		<-done
	}
	if s.spool != nil {
		s.spool.close() // what is not committed stays on disk for the next start
	}
	return nil
}

// ReadyMQTT is the "mqtt" readiness check.
func (s *Service) ReadyMQTT(ctx context.Context) error {
	if !s.started.Load() { // /readyz asks from New on, while Start is connecting
		return errors.New("MQTT not started")
	}
	switch {
	case s.paho != nil:
		for _, p := range s.paho {
			if err := p.ready(ctx); err != nil {
				return err
			}
		}
		return nil
	case s.broker != nil && s.broker.running.Load():
		return nil
	}
	return errors.New("MQTT not started")
}

// ReadyIngest is the "ingest" readiness check: telemetry is being stored.
func (s *Service) ReadyIngest(context.Context) error { return s.w.health() }

// publishLoop publishes each changed commune's snapshot: at once when a
// status, incident or alarm changed, and otherwise (telemetry only: last
// seen, latest values) at most once per PublishGap, coalescing bursts.
func (s *Service) publishLoop(ctx context.Context) {
	last := map[string]time.Time{}
	pending := map[string]bool{}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.st.wake:
		case <-timer.C:
		}
		for code, urgent := range s.st.takeDirty() {
			pending[code] = pending[code] || urgent
		}
		now := time.Now()
		next := time.Duration(0)
		for code, urgent := range pending {
			if wait := s.cfg.PublishGap - now.Sub(last[code]); wait > 0 && !urgent {
				if next == 0 || wait < next {
					next = wait
				}
				continue
			}
			delete(pending, code)
			last[code] = now
			s.publish(code, now)
		}
		if next > 0 {
			timer.Reset(next)
		}
	}
}

func (s *Service) publish(code string, now time.Time) {
	snap := s.st.snapshot(code, now)
	raw, err := json.Marshal(snap)
	if err != nil {
		s.log.Error("devices: encode snapshot", "unit", code, "err", err)
		return
	}
	topic := UnitTopic(code)
	s.bus.PublishEvent(&hub.Event{Topic: topic, Seq: s.seqs.next(topic), Time: now, Data: raw})
}

// tickLoop drives timeouts (every second), rule and window reloads (every
// 30 s, with credentials) and storage upkeep (partitions, rollups,
// retention; every 10 minutes).
func (s *Service) tickLoop(ctx context.Context) {
	sec := time.NewTicker(time.Second)
	defer sec.Stop()
	lastReload, lastUpkeep := time.Now(), time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-sec.C:
			s.st.tick(now)
			if now.Sub(lastReload) >= 30*time.Second {
				lastReload = now
				if err := s.reloadRules(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("devices: reload alarm rules", "err", err)
				}
				if s.broker != nil {
					if err := s.auth.reload(ctx); err != nil && ctx.Err() == nil {
						s.log.Warn("devices: reload broker credentials", "err", err)
					}
				}
				s.st.persistSeen()
			}
			if now.Sub(lastUpkeep) >= 10*time.Minute {
				lastUpkeep = now
				if err := upkeep(ctx, s.pool, now, s.cfg.RawRetention, s.cfg.HourlyRetention); err != nil && ctx.Err() == nil {
					s.log.Warn("devices: telemetry upkeep", "err", err)
				}
			}
		}
	}
}
