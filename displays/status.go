package displays

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
)

// screenStatus is what a socket knows of its screen, written to
// display_status in batches.
type screenStatus struct {
	DisplayID      int64
	ConnID         string
	ConnectedAt    time.Time
	LastSeen       time.Time
	IP, Agent      string
	Build          string
	RenderedSeq    uint64
	RenderedLayout string
	RenderedTopics map[string]uint64
	RenderedAt     time.Time
	Heap           int64
	ErrorCount     int64
	Errors         []string
	Uptime         float64
}

// touch records that the screen is alive and, with a rendered report, what
// it shows. The row is written when what the screen shows changes (seq,
// layout, errors) and otherwise at most every StatusEvery, so an idle fleet
// costs the database little.
func (cn *conn) touch(m *clientMsg) {
	cn.stMu.Lock()
	if cn.st.DisplayID == 0 {
		cn.stMu.Unlock()
		return
	}
	now := time.Now()
	cn.st.LastSeen = now
	changed := false
	if m != nil && m.Type == msgRendered {
		changed = m.Seq != cn.st.RenderedSeq || m.Layout != cn.st.RenderedLayout || m.ErrorCount != cn.st.ErrorCount
		cn.st.RenderedSeq, cn.st.RenderedLayout, cn.st.RenderedTopics = m.Seq, m.Layout, m.Topics
		cn.st.RenderedAt = now
		cn.st.Heap, cn.st.ErrorCount, cn.st.Uptime = m.Heap, m.ErrorCount, m.Uptime
		if m.Errors != nil {
			cn.st.Errors = m.Errors
		}
	}
	due := changed || now.Sub(cn.stWritten) >= cn.svc.o.StatusEvery
	cn.stMu.Unlock()
	if due {
		cn.svc.markDirty(cn)
	}
}

func (s *Service) markDirty(cn *conn) {
	s.dirtyMu.Lock()
	s.dirty[cn] = struct{}{}
	s.dirtyMu.Unlock()
}

// RunStatus writes screens' status every StatusInterval, marks offline the
// screens nobody has heard from for two heartbeats (their hub instance may
// have died without saying so) and drops expired pairing codes, until ctx
// ends; then it writes what is left.
func (s *Service) RunStatus(ctx context.Context) {
	tick := time.NewTicker(s.o.StatusInterval)
	defer tick.Stop()
	sweep := time.NewTicker(max(s.o.Heartbeat, time.Second))
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
			s.writeStatus(wctx)
			cancel()
			return
		case <-tick.C:
			s.writeStatus(ctx)
		case <-sweep.C:
			s.sweep(ctx)
		}
	}
}

// silentLimit is how long a socket may stay silent: two heartbeats and half
// of one for the network. A screen that misses two is offline.
func (s *Service) silentLimit() time.Duration {
	return 2*s.o.Heartbeat + s.o.Heartbeat/2
}

// offlineAfter is how old a screen's last_seen may be in the database
// before the sweep marks it offline: the silent limit plus the longest gap
// between two writes of a live screen's row (an instance that died cannot
// close its sockets' rows itself; one that lives closes a silent socket,
// and writes it offline, after the silent limit).
func (s *Service) offlineAfter() time.Duration {
	return s.silentLimit() + s.o.StatusEvery + s.o.StatusInterval
}

// offlineRow is the last status write of a closed socket. Kept instead of
// the socket itself, so that a closed connection is not held in memory
// until the next write.
type offlineRow struct {
	displayID int64
	connID    string
	lastSeen  time.Time
}

// markOffline records that a socket of a display closed.
func (s *Service) markOffline(cn *conn) {
	cn.stMu.Lock()
	row := offlineRow{cn.st.DisplayID, cn.st.ConnID, cn.st.LastSeen}
	cn.stMu.Unlock()
	s.dirtyMu.Lock()
	delete(s.dirty, cn)
	s.offline = append(s.offline, row)
	s.dirtyMu.Unlock()
}

func (s *Service) writeStatus(ctx context.Context) {
	s.dirtyMu.Lock()
	if len(s.dirty) == 0 && len(s.offline) == 0 {
		s.dirtyMu.Unlock()
		return
	}
	conns := make([]*conn, 0, len(s.dirty))
	for cn := range s.dirty {
		conns = append(conns, cn)
	}
	clear(s.dirty)
	offline := s.offline
	s.offline = nil
	s.dirtyMu.Unlock()

	batch := &pgx.Batch{}
	for _, r := range offline {
		// Only if the row still describes this socket: a screen that
		// reconnected (here or elsewhere) keeps its newer status.
		batch.Queue(`UPDATE display_status SET online=false, last_seen=$3 WHERE display_id=$1 AND conn_id=$2`,
			r.displayID, r.connID, r.lastSeen)
	}
	now := time.Now()
	for _, cn := range conns {
		cn.stMu.Lock()
		st := cn.st
		cn.stWritten = now
		cn.stMu.Unlock()
		if st.DisplayID == 0 {
			continue
		}
		topics, _ := json.Marshal(st.RenderedTopics)
		errs, _ := json.Marshal(st.Errors)
		if st.Errors == nil {
			errs = []byte("[]")
		}
		var renderedAt *time.Time
		if !st.RenderedAt.IsZero() {
			renderedAt = &st.RenderedAt
		}
		batch.Queue(`INSERT INTO display_status(display_id, online, instance, conn_id, connected_at, last_seen, remote_ip,
				user_agent, build, rendered_seq, rendered_layout, rendered_topics, rendered_at, js_heap, error_count, errors, uptime_seconds)
			SELECT $1, true, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16
			WHERE EXISTS (SELECT 1 FROM displays WHERE id=$1 AND revoked_at IS NULL)
			ON CONFLICT (display_id) DO UPDATE SET online=true, instance=$2, conn_id=$3, connected_at=$4, last_seen=$5,
				remote_ip=$6, user_agent=$7, build=$8, rendered_seq=$9, rendered_layout=$10, rendered_topics=$11,
				rendered_at=$12, js_heap=$13, error_count=$14, errors=$15, uptime_seconds=$16`,
			st.DisplayID, s.d.Instance, st.ConnID, st.ConnectedAt, st.LastSeen, st.IP, st.Agent, st.Build,
			int64(st.RenderedSeq), st.RenderedLayout, topics, renderedAt, st.Heap, st.ErrorCount, errs, st.Uptime)
	}
	if batch.Len() == 0 {
		return
	}
	if err := s.d.Pool.SendBatch(ctx, batch).Close(); err != nil {
		s.log.Warn("displays: cannot write screen status; will retry", "err", err)
		s.dirtyMu.Lock()
		for _, cn := range conns {
			s.dirty[cn] = struct{}{}
		}
		s.offline = append(s.offline, offline...)
		s.dirtyMu.Unlock()
	}
}

// sweep marks silent screens offline and drops old pairing codes.
func (s *Service) sweep(ctx context.Context) {
	tag, err := s.d.Pool.Exec(ctx, `UPDATE display_status SET online=false
		WHERE online AND last_seen < now() - $1::interval`, s.offlineAfter().String())
	if err != nil {
		s.log.Warn("displays: offline sweep failed", "err", err)
		return
	}
	if n := tag.RowsAffected(); n > 0 {
		s.metrics.wentOffline.Add(float64(n))
		s.log.Info("displays: screens silent for two heartbeats marked offline", "count", n)
	}
	if err := s.store.cleanupPairings(ctx); err != nil {
		s.log.Warn("displays: pairing cleanup failed", "err", err)
	}
}

// Status is a screen's last known state, as the admin page shows it.
type Status struct {
	Online         bool              `json:"online"`
	Instance       string            `json:"instance"`
	ConnectedAt    *time.Time        `json:"connected_at"`
	LastSeen       *time.Time        `json:"last_seen"`
	RemoteIP       string            `json:"remote_ip"`
	UserAgent      string            `json:"user_agent"`
	Build          string            `json:"build"`
	RenderedSeq    uint64            `json:"rendered_seq"`
	RenderedLayout string            `json:"rendered_layout"`
	RenderedTopics map[string]uint64 `json:"rendered_topics"`
	RenderedAt     *time.Time        `json:"rendered_at"`
	JSHeap         int64             `json:"js_heap"`
	ErrorCount     int64             `json:"error_count"`
	Errors         []string          `json:"errors"`
	Uptime         float64           `json:"uptime_seconds"`
	CurrentSeq     uint64            `json:"current_seq"` // position of the screen's topics on this instance's bus
	BehindBy       *uint64           `json:"behind_by"`   // events not on screen yet; null while the layout is switching or unknown
}

// DisplayInfo is a display with its status and latest commands.
type DisplayInfo struct {
	*Display
	Status      Status     `json:"status"`
	LastCommand *Command   `json:"last_command"`
	Commands    []*Command `json:"commands,omitempty"`
}

// list returns displays with their status; revoked ones only with all.
func (s *Service) list(ctx context.Context, all bool, id int64) ([]*DisplayInfo, error) {
	sql := `SELECT ` + displayColumns + `,
		coalesce(st.online AND st.last_seen > now() - $2::interval, false), coalesce(st.instance,''), st.connected_at, st.last_seen,
		coalesce(st.remote_ip,''), coalesce(st.user_agent,''), coalesce(st.build,''), coalesce(st.rendered_seq,0),
		coalesce(st.rendered_layout,''), coalesce(st.rendered_topics,'{}'), st.rendered_at, coalesce(st.js_heap,0),
		coalesce(st.error_count,0), coalesce(st.errors,'[]'), coalesce(st.uptime_seconds,0),
		c.id, c.command, c.args, c.created_by, c.created_at, c.acked_at, c.ok, c.result` +
		displayFrom + ` LEFT JOIN display_status st ON st.display_id = d.id
		LEFT JOIN LATERAL (SELECT * FROM display_commands WHERE display_id = d.id ORDER BY id DESC LIMIT 1) c ON true
		WHERE ($1 OR d.revoked_at IS NULL) AND ($3 = 0 OR d.id = $3) ORDER BY d.id`
	rows, err := s.d.Pool.Query(ctx, sql, all, s.offlineAfter().String(), id)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*DisplayInfo, error) {
		var d Display
		var st Status
		var rseq int64
		var (
			cid             *int64
			ccmd, cby, cres *string
			cargs           []byte
			cat             *time.Time
			cacked          *time.Time
			cok             *bool
		)
		err := r.Scan(&d.ID, &d.Name, &d.Scope, &d.ScopeName, &d.ScopeLevel, &d.Province,
			&d.Layout, &d.ActiveLayout, &d.Classification, &d.Lang, &d.Schedule, &d.OverrideUntil, &d.CreatedAt, &d.RevokedAt,
			&st.Online, &st.Instance, &st.ConnectedAt, &st.LastSeen, &st.RemoteIP, &st.UserAgent, &st.Build, &rseq,
			&st.RenderedLayout, &st.RenderedTopics, &st.RenderedAt, &st.JSHeap, &st.ErrorCount, &st.Errors, &st.Uptime,
			&cid, &ccmd, &cargs, &cby, &cat, &cacked, &cok, &cres)
		if d.Schedule == nil {
			d.Schedule = []ScheduleEntry{}
		}
		st.RenderedSeq = uint64(rseq)
		di := &DisplayInfo{Display: &d, Status: st}
		if cid != nil {
			di.LastCommand = &Command{ID: *cid, DisplayID: d.ID, Command: *ccmd, Args: cargs, CreatedBy: *cby,
				CreatedAt: *cat, AckedAt: cacked, OK: cok, Result: *cres}
		}
		return di, err
	})
	if err != nil {
		return nil, err
	}
	for _, di := range out {
		if di.RevokedAt != nil {
			continue
		}
		topics := di.topics(s.d.Bus.Latest, s.d.Topics)
		di.Status.CurrentSeq = s.position(topics)
		if di.Status.RenderedAt != nil && di.Status.RenderedLayout == di.ActiveLayout && di.Status.CurrentSeq >= di.Status.RenderedSeq {
			b := di.Status.CurrentSeq - di.Status.RenderedSeq
			di.Status.BehindBy = &b
		}
	}
	return out, nil
}
