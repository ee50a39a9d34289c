package alerts

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/communehub/communehub/hub"
)

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

const channelColumns = `id, name, kind, config, rate_per_min, enabled`

func queryChannels(ctx context.Context, db querier) ([]Channel, error) {
	rows, err := db.Query(ctx, `SELECT `+channelColumns+` FROM alert_channels ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Channel])
}

func getChannel(ctx context.Context, db querier, id int64) (Channel, error) {
	rows, err := db.Query(ctx, `SELECT `+channelColumns+` FROM alert_channels WHERE id=$1`, id)
	if err != nil {
		return Channel{}, err
	}
	c, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Channel])
	if errors.Is(err, pgx.ErrNoRows) {
		return c, hub.Errorf(hub.ENotFound, "no channel %d", id)
	}
	return c, err
}

func saveChannel(ctx context.Context, db querier, c Channel) (Channel, error) {
	var err error
	if c.ID == 0 {
		err = db.QueryRow(ctx, `INSERT INTO alert_channels(name, kind, config, rate_per_min, enabled) VALUES ($1,$2,$3,$4,$5) RETURNING id`,
			c.Name, c.Kind, c.Config, c.RatePerMin, c.Enabled).Scan(&c.ID)
	} else {
		var tag pgconn.CommandTag
		tag, err = db.Exec(ctx, `UPDATE alert_channels SET name=$2, kind=$3, config=$4, rate_per_min=$5, enabled=$6 WHERE id=$1`,
			c.ID, c.Name, c.Kind, c.Config, c.RatePerMin, c.Enabled)
		if err == nil && tag.RowsAffected() == 0 {
			return c, hub.Errorf(hub.ENotFound, "no channel %d", c.ID)
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return c, &hub.Error{Code: hub.EConflict, Field: "name", Message: "another channel has this name"}
	}
	return c, err
}

func deleteRow(ctx context.Context, db querier, table, what string, id int64) error {
	tag, err := db.Exec(ctx, `DELETE FROM `+table+` WHERE id=$1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		return hub.Errorf(hub.ENotFound, "no %s %d", what, id)
	}
	return err
}

const ruleColumns = `id, name, unit, kinds, min_severity, recipients, escalate_after_s, quiet_from, quiet_to, enabled`

func scanRules(rows pgx.Rows) ([]Rule, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Rule, error) {
		var r Rule
		var rc []byte
		err := row.Scan(&r.ID, &r.Name, &r.Unit, &r.Kinds, &r.MinSeverity, &rc, &r.EscalateAfter, &r.QuietFrom, &r.QuietTo, &r.Enabled)
		if err == nil {
			err = json.Unmarshal(rc, &r.Recipients)
		}
		return r, err
	})
}

func queryRules(ctx context.Context, db querier) ([]Rule, error) {
	rows, err := db.Query(ctx, `SELECT `+ruleColumns+` FROM alert_rules ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return scanRules(rows)
}

func saveRule(ctx context.Context, db querier, r Rule) (Rule, error) {
	rc, _ := json.Marshal(r.Recipients)
	if r.Kinds == nil {
		r.Kinds = []string{}
	}
	if r.ID == 0 {
		err := db.QueryRow(ctx, `INSERT INTO alert_rules(name, unit, kinds, min_severity, recipients, escalate_after_s, quiet_from, quiet_to, enabled)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING id`,
			r.Name, r.Unit, r.Kinds, r.MinSeverity, rc, r.EscalateAfter, r.QuietFrom, r.QuietTo, r.Enabled).Scan(&r.ID)
		return r, err
	}
	tag, err := db.Exec(ctx, `UPDATE alert_rules SET name=$2, unit=$3, kinds=$4, min_severity=$5, recipients=$6, escalate_after_s=$7,
		quiet_from=$8, quiet_to=$9, enabled=$10 WHERE id=$1`,
		r.ID, r.Name, r.Unit, r.Kinds, r.MinSeverity, rc, r.EscalateAfter, r.QuietFrom, r.QuietTo, r.Enabled)
	if err == nil && tag.RowsAffected() == 0 {
		return r, hub.Errorf(hub.ENotFound, "no rule %d", r.ID)
	}
	return r, err
}

// Send is one queued, sent or failed message, as the page lists it.
type Send struct {
	ID        int64      `json:"id"`
	Source    string     `json:"source"`
	Phase     string     `json:"phase"`
	ChannelID int64      `json:"channel"`
	Address   string     `json:"to"`
	Subject   string     `json:"subject"`
	State     string     `json:"state"`
	Attempts  int        `json:"attempts"`
	NextAt    time.Time  `json:"next_at"`
	LastError string     `json:"last_error"`
	CreatedAt time.Time  `json:"created_at"`
	SentAt    *time.Time `json:"sent_at"`
}

func querySends(ctx context.Context, db querier, source string, limit int) ([]Send, error) {
	rows, err := db.Query(ctx, `SELECT id, source, phase, channel_id, address, subject, state, attempts, next_at, last_error, created_at, sent_at
		FROM alert_queue WHERE $1 = '' OR source = $1 ORDER BY id DESC LIMIT $2`, source, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Send])
}

// Notified is one message sent about an open event: the recipient's name
// (from the rule, "" when it names none), address (empty for a webhook),
// the channel's kind and name, the phase and when it went.
type Notified struct {
	Source  string    `json:"source"`
	Name    string    `json:"name"`
	To      string    `json:"to"`
	Kind    string    `json:"kind"`
	Channel string    `json:"channel"`
	Phase   string    `json:"phase"`
	SentAt  time.Time `json:"sent_at"`
}

// queryNotified returns the sent messages of the current occurrence of
// unit's open events, oldest first.
func queryNotified(ctx context.Context, db querier, unit string) ([]Notified, error) {
	rows, err := db.Query(ctx, `SELECT e.source,
		COALESCE((SELECT x->>'name' FROM alert_rules r, jsonb_array_elements(r.recipients) x
			WHERE r.id = q.rule_id AND (x->>'channel')::bigint = q.channel_id AND COALESCE(x->>'to', '') = q.address AND x->>'name' <> '' LIMIT 1), ''),
		q.address, c.kind, c.name, q.phase, q.sent_at
		FROM alert_events e
		JOIN alert_queue q ON q.source = e.source || '#' || e.occurrence
		JOIN alert_channels c ON c.id = q.channel_id
		WHERE e.unit = $1 AND e.closed_at IS NULL AND q.state = 'sent'
		ORDER BY q.sent_at, q.id LIMIT 500`, unit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Notified])
}

// queued is a message to enqueue.
type queued struct {
	Source, Phase, Address, Subject, Body string
	Channel                               int64
	Rule                                  *int64
	Payload                               map[string]any
	NotBefore                             time.Time
}

// enqueue inserts m unless the same (source, phase, channel, address) is
// queued already; it reports whether it did.
func enqueue(ctx context.Context, db querier, m queued) (bool, error) {
	p, _ := json.Marshal(m.Payload)
	next := m.NotBefore
	if next.IsZero() {
		next = time.Now()
	}
	tag, err := db.Exec(ctx, `INSERT INTO alert_queue(source, phase, channel_id, address, rule_id, subject, body, payload, next_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (source, phase, channel_id, address) DO NOTHING`,
		m.Source, m.Phase, m.Channel, m.Address, m.Rule, m.Subject, m.Body, p, next)
	return err == nil && tag.RowsAffected() == 1, err
}

// hubKey returns the key of the acknowledgement links, made once and kept
// in the database so every instance signs and checks alike.
func hubKey(ctx context.Context, pool *pgxpool.Pool) ([]byte, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, `INSERT INTO alert_keys(id, key) VALUES (1, $1) ON CONFLICT DO NOTHING`, k); err != nil {
		return nil, err
	}
	err := pool.QueryRow(ctx, `SELECT key FROM alert_keys WHERE id=1`).Scan(&k)
	return k, err
}
