package alerts

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/communehub/communehub/hub"
)

// The engine turns snapshots into alert_events rows and the rows into
// queued messages:
//
//   - observe (the bus follower): a snapshot's incidents and alarms are
//     upserted, those of the unit no longer in it are closed, and a closed
//     event people were told about queues its recovery message, in one
//     transaction. A snapshot that changes nothing alerts cares about (most
//     of them: telemetry) costs no query.
//   - tick (every Config.Tick): an event open for Config.Hold is claimed
//     (notified_at) and queues its opened messages; one unacknowledged past
//     its rule's escalation timeout is claimed (escalated_at) and queues
//     its escalation. Claims are conditional updates, so several instances
//     on one database tell people once.

// observe records unit's events of one family (prefixes: the sources it
// owns, e.g. incident: and alarm: for devices).
func (s *Service) observe(ctx context.Context, unit string, prefixes []string, evs []Event) error {
	key := unit + "|" + strings.Join(prefixes, ",")
	fp := fingerprint(evs)
	s.mu.Lock()
	last, ok := s.seen[key]
	same := ok && last == fp
	s.mu.Unlock()
	if same {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		sources := make([]string, 0, len(evs))
		for _, ev := range evs {
			sources = append(sources, ev.Source)
			var acked *time.Time
			if ev.Acked {
				now := time.Now()
				acked = &now
			}
			// Back after it was closed: a new occurrence, told anew.
			if _, err := tx.Exec(ctx, `INSERT INTO alert_events(source, unit, kind, severity, title, title_en, alarm_id, since, acked_at, acked_by)
				VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9, CASE WHEN $9::timestamptz IS NULL THEN '' ELSE 'devices' END)
				ON CONFLICT (source) DO UPDATE SET seen_at=now(), gone_at=NULL, kind=EXCLUDED.kind, severity=EXCLUDED.severity,
					title=EXCLUDED.title, title_en=EXCLUDED.title_en, alarm_id=EXCLUDED.alarm_id,
					occurrence = alert_events.occurrence + CASE WHEN alert_events.closed_at IS NULL THEN 0 ELSE 1 END,
					first_seen = CASE WHEN alert_events.closed_at IS NULL THEN alert_events.first_seen ELSE now() END,
					since = CASE WHEN alert_events.closed_at IS NULL THEN alert_events.since ELSE EXCLUDED.since END,
					notified_at = CASE WHEN alert_events.closed_at IS NULL THEN alert_events.notified_at END,
					escalated_at = CASE WHEN alert_events.closed_at IS NULL THEN alert_events.escalated_at END,
					acked_by = CASE WHEN alert_events.closed_at IS NULL AND alert_events.acked_at IS NOT NULL THEN alert_events.acked_by
						WHEN EXCLUDED.acked_at IS NOT NULL THEN 'devices' ELSE '' END,
					acked_at = CASE WHEN alert_events.closed_at IS NULL THEN COALESCE(alert_events.acked_at, EXCLUDED.acked_at) ELSE EXCLUDED.acked_at END,
					closed_at = NULL`,
				ev.Source, ev.Unit, ev.Kind, ev.Severity, ev.Title, ev.TitleEN, ev.AlarmID, ev.Since, acked); err != nil {
				return err
			}
		}
		likes := make([]string, len(prefixes))
		for i, p := range prefixes {
			likes[i] = p + "%"
		}
		// Gone from the snapshot: closed by tick once gone for RecoverAfter.
		_, err := tx.Exec(ctx, `UPDATE alert_events SET gone_at=now()
			WHERE unit=$1 AND closed_at IS NULL AND gone_at IS NULL AND source LIKE ANY($2) AND NOT (source = ANY($3))`,
			unit, likes, sources)
		return err
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.seen[key] = fp
	s.mu.Unlock()
	return nil
}

// fingerprint is what alerts keeps of a snapshot: which events, at which
// severity and acknowledgement.
func fingerprint(evs []Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "%s|%s|%t|%s\n", ev.Source, ev.Severity, ev.Acked, ev.Title)
	}
	return b.String()
}

// forget drops the fingerprints: the next snapshot of every unit is
// written (after the bus dropped events, or in tests).
func (s *Service) forget() {
	s.mu.Lock()
	clear(s.seen)
	s.mu.Unlock()
}

const eventColumns = `source, occurrence, unit, kind, severity, title, title_en, alarm_id, since, acked_at IS NOT NULL`

func scanEvent(r pgx.CollectableRow) (Event, error) {
	var e Event
	err := r.Scan(&e.Source, &e.Occurrence, &e.Unit, &e.Kind, &e.Severity, &e.Title, &e.TitleEN, &e.AlarmID, &e.Since, &e.Acked)
	return e, err
}

// tick queues the opened and escalated messages that are due.
func (s *Service) tick(ctx context.Context) error {
	rules, err := queryRules(ctx, s.pool)
	if err != nil {
		return err
	}
	now := s.now()
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM alert_events
		WHERE closed_at IS NULL AND gone_at IS NULL AND notified_at IS NULL AND first_seen <= now() - $1::interval ORDER BY first_seen LIMIT 500`, s.cfg.Hold)
	if err != nil {
		return err
	}
	fresh, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return err
	}
	for _, ev := range fresh {
		if err := s.claim(ctx, ev, PhaseOpened, rules, now); err != nil {
			return err
		}
	}
	rows, err = s.pool.Query(ctx, `SELECT `+eventColumns+`, notified_at FROM alert_events
		WHERE closed_at IS NULL AND gone_at IS NULL AND acked_at IS NULL AND notified_at IS NOT NULL AND escalated_at IS NULL
			AND kind <> 'dossier_overdue' ORDER BY notified_at LIMIT 500`)
	if err != nil {
		return err
	}
	type pending struct {
		Event
		Notified time.Time
	}
	waiting, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pending, error) {
		var p pending
		err := r.Scan(&p.Source, &p.Occurrence, &p.Unit, &p.Kind, &p.Severity, &p.Title, &p.TitleEN, &p.AlarmID, &p.Since, &p.Acked, &p.Notified)
		return p, err
	})
	if err != nil {
		return err
	}
	for _, p := range waiting {
		var due []Rule
		for _, r := range rules {
			after := s.cfg.EscalateAfter
			if r.EscalateAfter > 0 {
				after = time.Duration(r.EscalateAfter) * time.Second
			}
			if r.matches(p.Event) && !p.Notified.Add(after).After(now) {
				due = append(due, r)
			}
		}
		if len(due) > 0 {
			if err := s.claim(ctx, p.Event, PhaseEscalated, due, now); err != nil {
				return err
			}
		}
	}
	if err := s.closeGone(ctx); err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `DELETE FROM alert_used_links WHERE expires_at < now()`)
	return err
}

// closeGone closes the events gone from their snapshots for RecoverAfter
// and queues the recovery message to everyone told of them.
func (s *Service) closeGone(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE alert_events SET closed_at=now()
			WHERE closed_at IS NULL AND gone_at <= now() - $1::interval
			RETURNING `+eventColumns+`, notified_at IS NOT NULL`, s.cfg.RecoverAfter)
		if err != nil {
			return err
		}
		type closed struct {
			Event
			Notified bool
		}
		ended, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (closed, error) {
			var c closed
			err := r.Scan(&c.Source, &c.Occurrence, &c.Unit, &c.Kind, &c.Severity, &c.Title, &c.TitleEN, &c.AlarmID, &c.Since, &c.Acked, &c.Notified)
			return c, err
		})
		if err != nil {
			return err
		}
		for _, c := range ended {
			// An overdue dossier leaves the list when it is finished or
			// when 20 more overdue push it out: no recovery message.
			if !c.Notified || c.Kind == EventDossierOverdue {
				continue
			}
			rows, err := tx.Query(ctx, `SELECT DISTINCT channel_id, address FROM alert_queue
				WHERE source=$1 AND phase IN ('opened', 'escalated')`, c.key())
			if err != nil {
				return err
			}
			type dest struct {
				Channel int64
				Address string
			}
			dests, err := pgx.CollectRows(rows, pgx.RowToStructByPos[dest])
			if err != nil {
				return err
			}
			for _, d := range dests {
				m := s.render(c.Event, PhaseRecovered, d.Address)
				m.Channel = d.Channel
				if err := s.enqueue(ctx, tx, m); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		s.wakeSender()
	}
	return err
}

// claim marks ev told (opened) or escalated, once across instances, and
// queues the messages of the rules that want it.
func (s *Service) claim(ctx context.Context, ev Event, phase string, rules []Rule, now time.Time) error {
	col := map[string]string{PhaseOpened: "notified_at", PhaseEscalated: "escalated_at"}[phase]
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE alert_events SET `+col+`=now()
			WHERE source=$1 AND occurrence=$2 AND `+col+` IS NULL AND closed_at IS NULL`, ev.Source, ev.Occurrence)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		for _, r := range rules {
			if !r.matches(ev) {
				continue
			}
			level := 0
			if phase == PhaseEscalated {
				level = 1
				if !hasLevel(r, 1) {
					level = 0
				}
			}
			var quiet time.Time
			if ev.Severity != "critical" {
				quiet = r.quietUntil(now)
			}
			for _, rc := range r.Recipients {
				if rc.Level != level {
					continue
				}
				m := s.render(ev, phase, rc.To)
				m.Channel, m.Rule, m.NotBefore = rc.Channel, &r.ID, quiet
				if err := s.enqueue(ctx, tx, m); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		s.wakeSender()
	}
	return err
}

func hasLevel(r Rule, level int) bool {
	for _, rc := range r.Recipients {
		if rc.Level == level {
			return true
		}
	}
	return false
}

// enqueue queues m and counts it; a message already queued is not.
func (s *Service) enqueue(ctx context.Context, db querier, m queued) error {
	var kind string
	if err := db.QueryRow(ctx, `SELECT kind FROM alert_channels WHERE id=$1`, m.Channel).Scan(&kind); err != nil {
		if err == pgx.ErrNoRows {
			return nil // the channel was deleted since the rule was saved
		}
		return err
	}
	added, err := enqueue(ctx, db, m)
	if added {
		s.m.queued.WithLabelValues(kind).Inc()
	}
	return err
}

// render writes the message of ev's phase for the recipient to.
func (s *Service) render(ev Event, phase, to string) queued {
	var vi, en string
	switch phase {
	case PhaseOpened:
		vi, en = "Sự cố", "Alert"
	case PhaseEscalated:
		vi, en = "Chưa xử lý — báo tiếp", "Escalated, not acknowledged"
	case PhaseRecovered:
		vi, en = "Đã khắc phục", "Recovered"
	default:
		vi, en = "Thử", "Test"
	}
	title := ev.Title
	subject := fmt.Sprintf("[CommuneHub %s] %s: %s", ev.Unit, vi, title)
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", vi, ev.Title)
	if ev.TitleEN != "" {
		fmt.Fprintf(&b, "%s: %s\n", en, ev.TitleEN)
	}
	fmt.Fprintf(&b, "\nXã / Commune: %s\nMức độ / Severity: %s\nLoại / Kind: %s\n", ev.Unit, ev.Severity, ev.Kind)
	if !ev.Since.IsZero() {
		fmt.Fprintf(&b, "Từ / Since: %s\n", ev.Since.In(vietnam).Format("15:04 02/01/2006"))
	}
	payload := map[string]any{"source": ev.key(), "phase": phase, "kind": ev.Kind, "unit": ev.Unit, "severity": ev.Severity,
		"title": ev.Title, "title_en": ev.TitleEN, "since": ev.Since}
	if ev.AlarmID != "" {
		payload["alarm"] = ev.AlarmID
	}
	if (phase == PhaseOpened || phase == PhaseEscalated) && ev.ackable() && !ev.Acked && s.cfg.PublicURL != "" {
		u := s.cfg.PublicURL + "/alerts/ack/" + signLink(s.key, ev.key(), to, s.now().Add(s.cfg.LinkTTL))
		fmt.Fprintf(&b, "\nXác nhận đã nhận / Acknowledge: %s\n", u)
		payload["ack_url"] = u
	}
	return queued{Source: ev.key(), Phase: phase, Address: to, Subject: clip(subject, 250), Body: b.String(), Payload: payload}
}

// resyncTopics are the latest snapshots of the units with open events,
// read again after the bus dropped this follower.
func (s *Service) resyncTopics(ctx context.Context, fam hub.TopicFamily) []string {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT unit FROM alert_events WHERE closed_at IS NULL`)
	if err != nil {
		return nil
	}
	units, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	topics := make([]string, 0, len(units))
	for _, u := range units {
		topics = append(topics, fam.Topic(u))
	}
	return topics
}
