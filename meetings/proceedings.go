package meetings

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/communehub/communehub/hub"
)

// ProceedingsConfig is the records-and-proceedings part of the meetings
// configuration.
type ProceedingsConfig struct {
	DataDir        string           // documents (DataDir/meetings/documents) and the signing key (DataDir/keys)
	DocMaxBytes    int64            // largest document upload; default 50 MiB
	DocTypes       []string         // allowed document extensions; default pdf and office files
	ReconnectGrace time.Duration    // how long a dropped participant is "reconnecting"; default 60 s
	Instance       string           // this hub instance's id (recorded with its signing key)
	Now            func() time.Time // the clock; nil: time.Now (tests set their own)
}

// DefaultDocTypes are the document extensions accepted when none are configured.
var DefaultDocTypes = []string{"pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "odp"}

// DefaultDocMaxBytes is the default upload limit.
const DefaultDocMaxBytes = 50 << 20

func (c *ProceedingsConfig) setDefaults() {
	if c.DocMaxBytes <= 0 {
		c.DocMaxBytes = DefaultDocMaxBytes
	}
	if len(c.DocTypes) == 0 {
		c.DocTypes = DefaultDocTypes
	}
	if c.ReconnectGrace <= 0 {
		c.ReconnectGrace = 60 * time.Second
	}
	if c.Instance == "" {
		c.Instance = "hub"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Proceedings owns meeting records and runs their proceedings. Every
// command runs in one transaction that first locks the meeting's row, so
// commands on one meeting are serialised across goroutines and hub
// instances; the command sees the state replayed from the log up to that
// row's last_seq, appends its events, and publishes through the outbox.
type Proceedings struct {
	cfg     ProceedingsConfig
	pool    *pgxpool.Pool
	bus     *hub.Bus
	units   *hub.Units
	guards  *hub.TopicGuards // asked again (Run) when access to a meeting ends
	origins []string         // besides the page's own, the origins that may redeem invite links
	log     *slog.Logger
	now     func() time.Time
	docs    *docStore
	signer  *Signer
	metrics procMetrics

	mu    sync.Mutex
	cache map[int64]*ProcState // the newest committed state of each meeting seen
	conns map[int64]int        // open sessions per invitee on this instance
}

type procMetrics struct {
	commands *prometheus.CounterVec // by kind and result
	rejected *prometheus.CounterVec // websocket/REST messages refused, by code
}

// NewProceedings returns the records-and-proceedings service and declares
// its topics (see declareTopics); Start loads its signing key, Mount adds
// its routes and Run its workers.
func NewProceedings(cfg ProceedingsConfig, d hub.Deps) (*Proceedings, error) {
	cfg.setDefaults()
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Proceedings{cfg: cfg, pool: d.Pool, bus: d.Bus, units: d.Units, guards: d.Guards, origins: d.Origins, log: log,
		now: cfg.Now, cache: map[int64]*ProcState{}, conns: map[int64]int{}}
	var err error
	if p.docs, err = newDocStore(cfg); err != nil {
		return nil, err
	}
	if err := p.declareTopics(d.Topics, d.Guards); err != nil {
		return nil, err
	}
	p.metrics = procMetrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "communehub_meeting_commands_total",
			Help: "Meeting proceedings commands by type and result."}, []string{"type", "result"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "communehub_meeting_rejected_total",
			Help: "Meeting proceedings messages refused, by error code."}, []string{"code"}),
	}
	if d.Metrics != nil {
		for _, c := range []prometheus.Collector{p.metrics.commands, p.metrics.rejected} {
			if err := d.Metrics.Registry.Register(c); err != nil {
				return nil, fmt.Errorf("meetings metrics: %w", err)
			}
		}
	}
	return p, nil
}

// Start makes the documents directory, loads the hub's signing key from
// cfg.DataDir/keys, generating it on first start, and records its public
// half in the database.
func (p *Proceedings) Start(ctx context.Context) error {
	if err := p.docs.makeDir(); err != nil {
		return err
	}
	var err error
	if p.signer, err = LoadOrCreateSigner(p.cfg.DataDir); err != nil {
		return err
	}
	return p.signer.Register(ctx, p.pool, p.cfg.Instance)
}

// Run sweeps the attendance register every second and, so that open /ws
// sockets ask the guards again when access to a meeting ends, invalidates
// the guards on every AccessPattern announcement, until ctx ends.
func (p *Proceedings) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if p.guards == nil {
			return
		}
		if err := p.guards.InvalidateOn(ctx, p.bus, AccessPattern); err != nil {
			p.log.Error("topic guards stopped following access changes", "err", err)
		}
	}()
	p.sweepEvery(ctx, time.Second)
	<-done
	return nil
}

// Signer returns the hub's minutes signing key.
func (p *Proceedings) Signer() *Signer { return p.signer }

// LogTopic is the bus topic carrying each event appended to a meeting's
// log, in order; participants' pages follow it (see docs/meeting-protocol.md).
func LogTopic(meetingID int64) string { return logFamily.Topic(strconv.FormatInt(meetingID, 10)) }

// StateTopic is the bus topic of a meeting's full snapshot (docs/topics.md).
func StateTopic(meetingID int64) string { return stateFamily.Topic(strconv.FormatInt(meetingID, 10)) }

// UnitTopic is the bus topic of a commune's current and next meeting;
// a province's meetings go to province/{code}/meetings (unitTopic).
func UnitTopic(unit string) string { return communeFamily.Topic(unit) }

// unitTopic returns the now/next topic for a unit of the given level.
func unitTopic(unit, level string) string {
	if level == "province" {
		return provinceFamily.Topic(unit)
	}
	return UnitTopic(unit)
}

// cmd is one command's transaction: the locked meeting row, its invitees and
// agenda, and a private copy of the state that emitted events advance.
type cmd struct {
	ctx         context.Context
	tx          pgx.Tx
	m           *Meeting
	invitees    map[int64]*Invitee
	agenda      []AgendaItem
	st          *ProcState
	events      []ProcEvent
	now         time.Time
	unitChanged bool
}

// emit appends an event: it must fit the state (Apply) or the command fails.
func (c *cmd) emit(kind string, actor int64, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	ev := ProcEvent{Seq: c.st.Seq + 1, At: c.now, Kind: kind, Actor: actor, Data: raw}
	if err := c.st.Apply(ev); err != nil {
		return err
	}
	c.events = append(c.events, ev)
	return nil
}

// exec runs fn as one command on a meeting.
func (p *Proceedings) exec(ctx context.Context, meetingID int64, fn func(*cmd) error) error {
	var st *ProcState
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		m, err := lockMeeting(ctx, tx, meetingID)
		if errors.Is(err, pgx.ErrNoRows) {
			return hub.Errorf(hub.ENotFound, "no meeting %d", meetingID)
		}
		if err != nil {
			return err
		}
		c := &cmd{ctx: ctx, tx: tx, m: m, now: p.now().UTC().Truncate(time.Microsecond)}
		if c.st, err = p.stateAt(ctx, tx, m); err != nil {
			return err
		}
		inv, err := loadInvitees(ctx, tx, meetingID)
		if err != nil {
			return err
		}
		c.invitees = make(map[int64]*Invitee, len(inv))
		for _, v := range inv {
			c.invitees[v.ID] = v
		}
		if c.agenda, err = loadAgenda(ctx, tx, meetingID); err != nil {
			return err
		}
		before, err := json.Marshal(snapshot(c))
		if err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
		if len(c.events) > 0 {
			if err := p.appendEvents(ctx, tx, meetingID, c.events); err != nil {
				return err
			}
		}
		after, err := json.Marshal(snapshot(c))
		if err != nil {
			return err
		}
		if !bytes.Equal(before, after) {
			if err := hub.WriteEvent(ctx, tx, StateTopic(meetingID), json.RawMessage(after)); err != nil {
				return err
			}
		}
		if c.unitChanged {
			if err := p.publishUnit(ctx, tx, c.m.Unit); err != nil {
				return err
			}
		}
		st = c.st
		return nil
	})
	if err != nil {
		return err
	}
	p.remember(st)
	return nil
}

func (p *Proceedings) appendEvents(ctx context.Context, tx pgx.Tx, meetingID int64, evs []ProcEvent) error {
	for _, ev := range evs {
		if err := insertEvent(ctx, tx, meetingID, &ev); err != nil {
			return fmt.Errorf("append meeting event: %w", err)
		}
		if err := hub.WriteEvent(ctx, tx, LogTopic(meetingID), ev); err != nil {
			return err
		}
	}
	return setLastSeq(ctx, tx, meetingID, evs[len(evs)-1].Seq)
}

// stateAt returns a private copy of the meeting's state at m.LastSeq: the
// cached state, advanced by the events another instance appended since.
func (p *Proceedings) stateAt(ctx context.Context, q querier, m *Meeting) (*ProcState, error) {
	p.mu.Lock()
	cached := p.cache[m.ID]
	var st *ProcState
	if cached != nil && cached.Seq <= m.LastSeq {
		st = cached.Clone()
	}
	p.mu.Unlock()
	if st == nil {
		st = NewProcState(m.ID)
	}
	if st.Seq == m.LastSeq {
		return st, nil
	}
	evs, err := loadEvents(ctx, q, m.ID, st.Seq, m.LastSeq)
	if err != nil {
		return nil, err
	}
	for _, ev := range evs {
		if err := st.Apply(ev); err != nil {
			return nil, err
		}
	}
	if st.Seq != m.LastSeq {
		return nil, fmt.Errorf("meeting %d: log ends at %d, row says %d", m.ID, st.Seq, m.LastSeq)
	}
	return st, nil
}

// remember keeps st as the meeting's cached state when it is newer.
func (p *Proceedings) remember(st *ProcState) {
	if st == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.cache[st.Meeting]; c == nil || c.Seq < st.Seq {
		p.cache[st.Meeting] = st
	}
}

// Events returns a meeting's log after seq (at most limit events).
func (p *Proceedings) Events(ctx context.Context, meetingID, after int64, limit int) ([]ProcEvent, error) {
	if limit <= 0 || limit > 5000 {
		limit = 5000
	}
	evs, err := loadEvents(ctx, p.pool, meetingID, after, after+int64(limit))
	if evs == nil {
		evs = []ProcEvent{}
	}
	return evs, err
}

// State returns the meeting's current state (a private copy).
func (p *Proceedings) State(ctx context.Context, meetingID int64) (*ProcState, error) {
	m, err := p.Meeting(ctx, meetingID)
	if err != nil {
		return nil, err
	}
	st, err := p.stateAt(ctx, p.pool, m)
	if err != nil {
		return nil, err
	}
	p.remember(st.Clone())
	return st, nil
}
