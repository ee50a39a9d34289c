package alerts

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/communehub/communehub/hub"
)

// Config is the alerts feature's settings.
type Config struct {
	// PublicURL is how the recipients' browsers reach the hub, for the
	// acknowledgement links; empty: messages carry no link.
	PublicURL     string
	EscalateAfter time.Duration // an event unacknowledged this long is escalated (default 15m; a rule may set its own)
	Hold          time.Duration // an event must last this long before anyone is told (default 1m): a blip tells nobody
	RecoverAfter  time.Duration // an event gone this long is over: its recovery is sent (default 2m); back sooner, it is the same occurrence
	LinkTTL       time.Duration // how long an acknowledgement link works (default 24h)
	Tick          time.Duration // how often due openings and escalations are looked for (default 5s)
	Poll          time.Duration // how often the queue is looked at besides when a message is queued (default 5s)
	RetryBase     time.Duration // first retry after (default 10s), doubling
	RetryMax      time.Duration // longest wait between retries (default 15m)
	GiveUpAfter   time.Duration // a message still failing this long after it was queued is failed (default 48h)
	SendTimeout   time.Duration // one send (default 20s)
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.EscalateAfter, 15*time.Minute)
	if c.Hold < 0 {
		c.Hold = 0
	} else if c.Hold == 0 {
		c.Hold = time.Minute
	}
	def(&c.RecoverAfter, 2*time.Minute)
	def(&c.LinkTTL, 24*time.Hour)
	def(&c.Tick, 5*time.Second)
	def(&c.Poll, 5*time.Second)
	def(&c.RetryBase, 10*time.Second)
	def(&c.RetryMax, 15*time.Minute)
	def(&c.GiveUpAfter, 48*time.Hour)
	def(&c.SendTimeout, 20*time.Second)
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
}

// NoHold is the Config.Hold that tells people at the first tick.
const NoHold = -1

// Acker acknowledges an alarm the way its owner's API does (the devices
// service implements it): by is who, comment why. An alarm acknowledged
// already is a hub.EConflict error.
type Acker interface {
	AckAlarm(ctx context.Context, id, by, comment string) error
}

// Service is the alerts feature.
type Service struct {
	cfg    Config
	pool   *pgxpool.Pool
	bus    *hub.Bus
	topics *hub.Topics
	log    *slog.Logger
	acker  Acker
	m      metrics
	client *http.Client
	now    func() time.Time

	key     []byte // the hub key of the acknowledgement links (Start)
	limiter limiter
	wake    chan struct{}
	sub     *hub.Subscription // the followed topics (Start), followed by Run

	mu   sync.Mutex
	seen map[string]string // unit|family → fingerprint of the last snapshot written
}

type metrics struct {
	sent, failed, retried, queued *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) metrics {
	vec := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "communehub_alerts_" + name + "_total", Help: help}, []string{"channel"})
	}
	m := metrics{
		sent:    vec("sent", "Notifications sent, by channel kind."),
		failed:  vec("failed", "Notifications given up on (a refusal, or still failing after the give-up time), by channel kind."),
		retried: vec("retried", "Failed sends that will be retried, by channel kind."),
		queued:  vec("queued", "Notifications queued, by channel kind."),
	}
	if reg != nil {
		reg.MustRegister(m.sent, m.failed, m.retried, m.queued)
	}
	return m
}

// New builds the service; acker acknowledges alarms from a message's link
// (nil: links acknowledge in alerts only).
func New(cfg Config, acker Acker, d hub.Deps) (*Service, error) {
	cfg.defaults()
	if d.Pool == nil || d.Bus == nil {
		return nil, fmt.Errorf("alerts: needs the database and the bus")
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var reg prometheus.Registerer
	if d.Metrics != nil {
		reg = d.Metrics.Registry
	}
	return &Service{cfg: cfg, pool: d.Pool, bus: d.Bus, topics: d.Topics, log: log, acker: acker, m: newMetrics(reg),
		client: &http.Client{Timeout: cfg.SendTimeout}, now: time.Now,
		wake: make(chan struct{}, 1), seen: map[string]string{}}, nil
}

// Start loads the hub key of the acknowledgement links.
func (s *Service) Start(ctx context.Context) error {
	k, err := hubKey(ctx, s.pool)
	if err != nil {
		return fmt.Errorf("alerts: hub key: %w", err)
	}
	s.key = k
	// Subscribed here, not in Run, so that no snapshot published once
	// Start has returned is missed.
	if pats := s.patterns(); len(pats) > 0 && s.sub == nil {
		if s.sub, err = s.bus.Subscribe(pats, 8<<20); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) wakeSender() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// followed are the families alerts follows: the topic kind, the sources
// its snapshots own, and the parser.
var followed = []struct {
	kind     string
	prefixes []string
	parse    func([]byte) (string, []Event, error)
}{
	{"devices", []string{"incident:", "alarm:"}, parseDevices},
	{"backlog", []string{"dossier:"}, parseBacklog},
}

// Run follows the bus, ticks and sends until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	if s.key == nil {
		if err := s.Start(ctx); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	wg.Add(2)
	go func() { defer wg.Done(); s.loop(ctx, s.cfg.Tick, nil, "tick", s.tick) }()
	go func() {
		defer wg.Done()
		s.loop(ctx, s.cfg.Poll, s.wake, "send", func(ctx context.Context) error { _, err := s.sendDue(ctx); return err })
	}()
	if sub := s.sub; sub != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sub.Follow(ctx, func(evs []*hub.Event) { s.handle(ctx, evs) }, func(reason error) {
				s.log.Warn("alerts fell behind the bus; reading the latest snapshots again", "reason", reason)
				s.forget()
				for _, f := range followed {
					if fam, ok := s.topics.Kind(f.kind); ok {
						var evs []*hub.Event
						for _, t := range s.resyncTopics(ctx, fam) {
							if ev := s.bus.Latest(t); ev != nil {
								evs = append(evs, ev)
							}
						}
						s.handle(ctx, evs)
					}
				}
			}); err != nil {
				errc <- err
				cancel()
			}
		}()
	}
	<-ctx.Done()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

func (s *Service) patterns() []string {
	var pats []string
	for _, f := range followed {
		if fam, ok := s.topics.Kind(f.kind); ok {
			pats = append(pats, fam.Pattern)
		}
	}
	return pats
}

// handle records the latest event of each topic in the batch.
func (s *Service) handle(ctx context.Context, evs []*hub.Event) {
	latest := map[string]*hub.Event{}
	var order []string
	for _, ev := range evs {
		if _, ok := latest[ev.Topic]; !ok {
			order = append(order, ev.Topic)
		}
		latest[ev.Topic] = ev
	}
	for _, t := range order {
		fam, ok := s.topics.Lookup(t)
		if !ok {
			continue
		}
		for _, f := range followed {
			if f.kind != fam.Kind {
				continue
			}
			unit, list, err := f.parse(latest[t].Data)
			if err != nil {
				s.log.Warn("alerts cannot read a snapshot", "topic", t, "err", err)
				continue
			}
			if err := s.observe(ctx, unit, f.prefixes, list); err != nil && ctx.Err() == nil {
				s.log.Error("alerts cannot record events", "topic", t, "err", err)
			}
		}
	}
}

// loop runs fn every period and whenever wake receives, logging failures.
func (s *Service) loop(ctx context.Context, period time.Duration, wake <-chan struct{}, name string, fn func(context.Context) error) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("alerts "+name+" failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
	}
}
