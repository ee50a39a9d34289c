package backlog

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Config is the backlog's part of the hub configuration.
type Config struct {
	DueSoonDays int              // an open dossier or document is "due soon" within this many working days; default 2
	Now         func() time.Time // the clock; nil: time.Now (tests set their own)
}

// Service is the backlog component: it owns its tables, computes the
// indicators and publishes them. It is safe for concurrent use.
type Service struct {
	pool    *pgxpool.Pool
	cfg     Config
	log     *slog.Logger
	cal     *Calendar
	units   *unitCache
	procs   *procCache
	metrics *metrics
	now     func() time.Time
	poke    func()     // wakes the deadline scheduler after a write; set by NewScheduler
	sched   *Scheduler // what Run runs
}

// New returns the service and declares its topics (d.Topics) and metrics;
// Start loads what it computes with, Mount adds its routes, Run runs the
// deadline scheduler.
func New(cfg Config, d hub.Deps) (*Service, error) {
	if cfg.DueSoonDays <= 0 {
		cfg.DueSoonDays = 2
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if d.Topics != nil {
		if err := DeclareTopics(d.Topics); err != nil {
			return nil, err
		}
	}
	var reg prometheus.Registerer
	if d.Metrics != nil {
		reg = d.Metrics.Registry
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Service{pool: d.Pool, cfg: cfg, log: log, cal: &Calendar{}, units: &unitCache{}, procs: &procCache{},
		now: cfg.Now, poke: func() {}, metrics: m}
	s.sched = NewScheduler(s)
	return s, nil
}

// Start loads the holiday calendar, the administrative units and the
// procedure catalogue.
func (s *Service) Start(ctx context.Context) error {
	if err := s.cal.Load(ctx, s.pool); err != nil {
		return fmt.Errorf("backlog: load holidays: %w", err)
	}
	if err := s.units.load(ctx, s.pool); err != nil {
		return fmt.Errorf("backlog: load units: %w", err)
	}
	if err := s.procs.load(ctx, s.pool); err != nil {
		return fmt.Errorf("backlog: load procedures: %w", err)
	}
	return nil
}

// Run runs the deadline scheduler (Scheduler) until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	s.sched.Run(ctx)
	return nil
}

// Calendar returns the working-day calendar.
func (s *Service) Calendar() *Calendar { return s.cal }

// unitCache holds the current communes and provinces (the units change
// only with a new administrative map, i.e. a new release).
type unitCache struct {
	mu         sync.RWMutex
	communes   map[string]unitInfo
	provinces  map[string]string // code → name
	byProvince map[string][]unitInfo
	successors map[string][]string // pre-2025 commune code → current communes it went into
}

func (u *unitCache) load(ctx context.Context, pool *pgxpool.Pool) error {
	rows, err := pool.Query(ctx, `SELECT code, name, level, coalesce(parent_code, '') FROM admin_units WHERE valid_to IS NULL`)
	if err != nil {
		return err
	}
	communes, provinces, by := map[string]unitInfo{}, map[string]string{}, map[string][]unitInfo{}
	var code, name, level, parent string
	_, err = pgx.ForEachRow(rows, []any{&code, &name, &level, &parent}, func() error {
		if level == "province" {
			provinces[code] = name
			return nil
		}
		ui := unitInfo{Code: code, Name: name, Province: parent}
		communes[code] = ui
		by[parent] = append(by[parent], ui)
		return nil
	})
	if err != nil {
		return err
	}
	for _, l := range by {
		sort.Slice(l, func(i, j int) bool { return l[i].Code < l[j].Code })
	}
	rows, err = pool.Query(ctx, `SELECT DISTINCT old_code, new_code FROM admin_unit_lineage ORDER BY old_code, new_code`)
	if err != nil {
		return err
	}
	succ := map[string][]string{}
	var oldCode, newCode string
	if _, err := pgx.ForEachRow(rows, []any{&oldCode, &newCode}, func() error {
		succ[oldCode] = append(succ[oldCode], newCode)
		return nil
	}); err != nil {
		return err
	}
	u.mu.Lock()
	u.communes, u.provinces, u.byProvince, u.successors = communes, provinces, by, succ
	u.mu.Unlock()
	return nil
}

// resolveCommune returns the current commune for a MaDVHC: the code
// itself when current, else the one commune a pre-2025 commune was merged
// into (history is reported under the successor, domain §4).
func (u *unitCache) resolveCommune(code string) (unitInfo, error) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	if c, ok := u.communes[code]; ok {
		return c, nil
	}
	switch next := u.successors[code]; len(next) {
	case 0:
		return unitInfo{}, unprocessable("MaDVHC", "no commune %q (use the 2025 commune codes; GET /api/v1/units?parent=PROVINCE lists them)", code)
	case 1:
		if c, ok := u.communes[next[0]]; ok {
			return c, nil
		}
		return unitInfo{}, unprocessable("MaDVHC", "commune %q was merged into %s, which is not current", code, next[0])
	default:
		return unitInfo{}, unprocessable("MaDVHC", "pre-2025 commune %q was split between %s: send the current commune's code", code, strings.Join(next, ", "))
	}
}

// commune returns a current commune.
func (u *unitCache) commune(code string) (unitInfo, bool) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	c, ok := u.communes[code]
	return c, ok
}

// lookup returns a current commune or province (isProvince true).
func (u *unitCache) lookup(code string) (unitInfo, bool, error) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	if c, ok := u.communes[code]; ok {
		return c, false, nil
	}
	if n, ok := u.provinces[code]; ok {
		return unitInfo{Code: code, Name: n, Province: code}, true, nil
	}
	return unitInfo{}, false, &hub.Error{Code: hub.ENotFound, Field: "unit", Message: fmt.Sprintf("no current commune or province %q", code)}
}

func (u *unitCache) communesOf(province string) []unitInfo {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return u.byProvince[province]
}

// procCache mirrors the procedures table; a miss reloads it (another hub
// instance may have added the procedure).
type procCache struct {
	mu     sync.RWMutex
	byCode map[string]*Procedure
	byID   map[int]*Procedure
}

func (p *procCache) load(ctx context.Context, db dbtx) error {
	list, err := listProcedures(ctx, db)
	if err != nil {
		return err
	}
	byCode, byID := map[string]*Procedure{}, map[int]*Procedure{}
	for i := range list {
		pr := &list[i]
		byCode[pr.Code], byID[pr.ID] = pr, pr
	}
	p.mu.Lock()
	p.byCode, p.byID = byCode, byID
	p.mu.Unlock()
	return nil
}

func (p *procCache) get(code string) *Procedure {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.byCode[code]
}

func (p *procCache) flags(id int) procFlags {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if pr := p.byID[id]; pr != nil {
		return procFlags{HasFee: pr.HasFee, RequiresPaperResult: pr.RequiresPaperResult}
	}
	return procFlags{}
}

func (p *procCache) byIDCode(id int) string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if pr := p.byID[id]; pr != nil {
		return pr.Code
	}
	return ""
}

// procedure returns the procedure with code, reloading once on a miss.
func (s *Service) procedure(ctx context.Context, code string) (*Procedure, error) {
	if p := s.procs.get(code); p != nil {
		return p, nil
	}
	if err := s.procs.load(ctx, s.pool); err != nil {
		return nil, err
	}
	if p := s.procs.get(code); p != nil {
		return p, nil
	}
	return nil, unprocessable("MaTTHC", "unknown procedure %q: register it first with PUT /api/v1/procedures/%s", code, code)
}

type metrics struct {
	upserts    *prometheus.CounterVec
	importRows *prometheus.CounterVec
	kpiSeconds *prometheus.HistogramVec
	published  prometheus.Counter
	wakeups    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		upserts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "communehub_backlog_dossier_upserts_total", Help: "Dossier upserts by result (created, updated, unchanged, rejected)."}, []string{"result"}),
		importRows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "communehub_backlog_import_rows_total", Help: "Imported dossier rows by result."}, []string{"result"}),
		kpiSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "communehub_backlog_kpi_seconds", Help: "Time to compute a unit's indicators.",
			Buckets: []float64{.001, .002, .005, .01, .02, .05, .1, .2, .5, 1}}, []string{"level"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "communehub_backlog_snapshots_published_total", Help: "KPI and backlog snapshots written to the outbox."}),
		wakeups: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "communehub_backlog_deadline_wakeups_total", Help: "Deadline scheduler wake-ups that republished snapshots."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.upserts, m.importRows, m.kpiSeconds, m.published, m.wakeups} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("backlog metrics: %w", err)
			}
		}
	}
	return m, nil
}
