package displays

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Control topics of the displays package (not data topics: their events are
// notifications between hub instances, see docs/display-protocol.md).
const (
	topicPairings = "displays/pairings" // {"code","display_id"}: a waiting screen was paired
	topicCommands = "displays/commands" // a Command for one screen
)

// topicConfig is the topic of a display's configuration; its latest event is
// the full Display (with revoked_at once revoked).
func topicConfig(id int64) string { return configFamily.Topic(strconv.FormatInt(id, 10)) }

// The displays' own topic families: control topics, which screens never
// show (no public fields).
var (
	configFamily    = hub.TopicFamily{Pattern: "displays/+", Kind: "display_config", Owner: "displays"}
	controlFamilies = []hub.TopicFamily{
		configFamily,
		{Pattern: topicPairings, Kind: "display_pairings", Owner: "displays"},
		{Pattern: topicCommands, Kind: "display_commands", Owner: "displays"},
	}
)

// kindOf returns the declared kind of topic's family, or "".
func (s *Service) kindOf(topic string) string {
	f, _ := s.d.Topics.Lookup(topic)
	return f.Kind
}

// store is the displays tables. Every change a screen must learn about is
// written with its outbox event in one transaction, so every hub instance
// hears of it.
type store struct{ pool *pgxpool.Pool }

func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// newToken returns a fresh display token (shown once; stored hashed).
func newToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return "chd_" + base64.RawURLEncoding.EncodeToString(b)
}

// pairingAlphabet has no 0/O, 1/I/L: codes are read off a TV across a room.
const pairingAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

func newPairingCode() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = pairingAlphabet[int(b[i])%len(pairingAlphabet)]
	}
	return string(b)
}

const displayColumns = `d.id, d.name, d.scope, coalesce(u.name, ''), coalesce(u.level, ''),
	coalesce(CASE WHEN u.level = 'province' THEN u.code ELSE u.parent_code END, ''),
	d.layout, d.active_layout, d.classification, d.lang, d.schedule, d.override_until, d.created_at, d.revoked_at`

const displayFrom = ` FROM displays d LEFT JOIN admin_units u ON u.code = d.scope AND u.valid_to IS NULL `

func scanDisplay(row pgx.Row) (*Display, error) {
	var d Display
	err := row.Scan(&d.ID, &d.Name, &d.Scope, &d.ScopeName, &d.ScopeLevel, &d.Province,
		&d.Layout, &d.ActiveLayout, &d.Classification, &d.Lang, &d.Schedule, &d.OverrideUntil, &d.CreatedAt, &d.RevokedAt)
	if err != nil {
		return nil, err
	}
	if d.Schedule == nil {
		d.Schedule = []ScheduleEntry{}
	}
	return &d, nil
}

func notFound(id int64) error { return hub.Errorf(hub.ENotFound, "no display %d", id) }

// byToken returns the live display whose token hashes to h; nil when there
// is none (unknown or revoked).
func (s *store) byToken(ctx context.Context, h []byte) (*Display, error) {
	d, err := scanDisplay(s.pool.QueryRow(ctx, `SELECT `+displayColumns+displayFrom+
		`WHERE d.token_hash = $1 AND d.revoked_at IS NULL`, h))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return d, err
}

func (s *store) get(ctx context.Context, q pgx.Tx, id int64, lock bool) (*Display, error) {
	sql := `SELECT ` + displayColumns + displayFrom + `WHERE d.id = $1`
	if lock {
		sql += ` FOR UPDATE OF d`
	}
	var row pgx.Row
	if q != nil {
		row = q.QueryRow(ctx, sql, id)
	} else {
		row = s.pool.QueryRow(ctx, sql, id)
	}
	d, err := scanDisplay(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound(id)
	}
	return d, err
}

// insert creates a display whose token hashes to tokenHash, inside tx.
func (s *store) insert(ctx context.Context, tx pgx.Tx, in *Display, tokenHash []byte, by string) (*Display, error) {
	sched, _ := json.Marshal(in.Schedule)
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO displays(name, scope, layout, active_layout, classification, lang, schedule, token_hash, created_by)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING id`,
		in.Name, in.Scope, in.Layout, in.effectiveLayout(time.Now()), in.Classification, in.Lang, sched, tokenHash, by).Scan(&id)
	if err != nil {
		return nil, err
	}
	return s.get(ctx, tx, id, false)
}

// create makes a display directly (provisioning) and returns it.
func (s *store) create(ctx context.Context, in *Display, tokenHash []byte, by string) (d *Display, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		d, err = s.insert(ctx, tx, in, tokenHash, by)
		return err
	})
	return d, err
}

// pair turns the waiting screen showing code into display in: the screen's
// own secret becomes its token, and every instance is told so the screen's
// socket can start at once.
func (s *store) pair(ctx context.Context, code string, in *Display, by string) (d *Display, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var secret []byte
		err := tx.QueryRow(ctx, `DELETE FROM display_pairings WHERE code = $1 AND expires_at > now() RETURNING secret_hash`, code).Scan(&secret)
		if errors.Is(err, pgx.ErrNoRows) {
			return &hub.Error{Code: hub.ENotFound, Field: "code", Message: fmt.Sprintf("no screen is showing pairing code %q (codes expire; read the one on the screen now)", code)}
		}
		if err != nil {
			return err
		}
		if d, err = s.insert(ctx, tx, in, secret, by); err != nil {
			return err
		}
		return hub.WriteEvent(ctx, tx, topicPairings, map[string]any{"code": code, "display_id": d.ID})
	})
	return d, err
}

// update applies change to display id under a row lock, recomputes its
// active layout and publishes the new configuration.
func (s *store) update(ctx context.Context, id int64, change func(*Display) error) (d *Display, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if d, err = s.get(ctx, tx, id, true); err != nil {
			return err
		}
		if d.RevokedAt != nil {
			return hub.Errorf(hub.EConflict, "display %d is revoked", id)
		}
		if err := change(d); err != nil {
			return err
		}
		return s.save(ctx, tx, d, time.Now())
	})
	return d, err
}

func (s *store) save(ctx context.Context, tx pgx.Tx, d *Display, now time.Time) error {
	d.ActiveLayout = d.effectiveLayout(now)
	sched, _ := json.Marshal(d.Schedule)
	_, err := tx.Exec(ctx, `UPDATE displays SET name=$2, scope=$3, layout=$4, active_layout=$5, classification=$6,
		lang=$7, schedule=$8, override_until=$9 WHERE id=$1`,
		d.ID, d.Name, d.Scope, d.Layout, d.ActiveLayout, d.Classification, d.Lang, sched, d.OverrideUntil)
	if err != nil {
		return err
	}
	fresh, err := s.get(ctx, tx, d.ID, false) // names of a changed scope
	if err != nil {
		return err
	}
	*d = *fresh
	return hub.WriteEvent(ctx, tx, topicConfig(d.ID), d)
}

// revoke forgets the display's token; its screen falls back to pairing.
func (s *store) revoke(ctx context.Context, id int64) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		d, err := s.get(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if d.RevokedAt != nil {
			return hub.Errorf(hub.ENotFound, "display %d is already revoked", id)
		}
		if err := tx.QueryRow(ctx, `UPDATE displays SET revoked_at=now(), token_hash=NULL WHERE id=$1 RETURNING revoked_at`, id).Scan(&d.RevokedAt); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE display_status SET online=false WHERE display_id=$1`, id); err != nil {
			return err
		}
		return hub.WriteEvent(ctx, tx, topicConfig(id), d)
	})
}

// command records a command for display id and tells every instance. A
// layout command also switches the layout, holding it against the schedule
// until the current schedule window ends.
func (s *store) command(ctx context.Context, id int64, cmd, layout, by string) (c *Command, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		d, err := s.get(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if d.RevokedAt != nil {
			return hub.Errorf(hub.EConflict, "display %d is revoked", id)
		}
		var args []byte
		if cmd == CmdLayout {
			if e := checkLayout(layout, d.ScopeLevel); e != nil {
				return e
			}
			d.Layout, d.OverrideUntil = layout, nil
			if cur, next := d.window(time.Now()); cur != nil {
				d.OverrideUntil = &next
			}
			if err := s.save(ctx, tx, d, time.Now()); err != nil {
				return err
			}
			args, _ = json.Marshal(map[string]string{"layout": layout})
		}
		c = &Command{DisplayID: id, Command: cmd, Args: args, CreatedBy: by}
		if err := tx.QueryRow(ctx, `INSERT INTO display_commands(display_id, command, args, created_by)
			VALUES ($1,$2,$3,$4) RETURNING id, created_at`, id, cmd, args, by).Scan(&c.ID, &c.CreatedAt); err != nil {
			return err
		}
		return hub.WriteEvent(ctx, tx, topicCommands, c)
	})
	return c, err
}

// pendingCommands returns the display's unacknowledged commands younger
// than commandTTL, oldest first.
func (s *store) pendingCommands(ctx context.Context, id int64) ([]*Command, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, display_id, command, args, created_by, created_at FROM display_commands
		WHERE display_id=$1 AND acked_at IS NULL AND created_at > now() - $2::interval ORDER BY id`, id, commandTTL.String())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Command, error) {
		var c Command
		err := r.Scan(&c.ID, &c.DisplayID, &c.Command, &c.Args, &c.CreatedBy, &c.CreatedAt)
		return &c, err
	})
}

// ack records a screen's acknowledgement of one of its commands; false when
// the command is not the display's or was already acknowledged.
func (s *store) ack(ctx context.Context, displayID, cmdID int64, ok bool, result string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE display_commands SET acked_at=now(), ok=$3, result=$4
		WHERE id=$2 AND display_id=$1 AND acked_at IS NULL`, displayID, cmdID, ok, result)
	return tag.RowsAffected() == 1, err
}

func (s *store) commands(ctx context.Context, id int64, limit int) ([]*Command, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, display_id, command, args, created_by, created_at, acked_at, ok, result
		FROM display_commands WHERE display_id=$1 ORDER BY id DESC LIMIT $2`, id, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Command, error) {
		var c Command
		err := r.Scan(&c.ID, &c.DisplayID, &c.Command, &c.Args, &c.CreatedBy, &c.CreatedAt, &c.AckedAt, &c.OK, &c.Result)
		return &c, err
	})
}

// waitingPairing registers (or renews) a screen waiting to be paired and
// returns the code it shows. A screen that asks again before its code
// expires keeps the same code.
func (s *store) waitingPairing(ctx context.Context, secretHash []byte, ip string, ttl time.Duration) (code string, expires time.Time, err error) {
	if _, err = s.pool.Exec(ctx, `DELETE FROM display_pairings WHERE secret_hash=$1 AND expires_at <= now()`, secretHash); err != nil {
		return "", time.Time{}, err
	}
	for attempt := 0; attempt < 5; attempt++ {
		err = s.pool.QueryRow(ctx, `
			INSERT INTO display_pairings(code, secret_hash, remote_ip, expires_at) VALUES ($1,$2,$3, now() + $4::interval)
			ON CONFLICT (secret_hash) DO UPDATE SET remote_ip = EXCLUDED.remote_ip
			RETURNING code, expires_at`, newPairingCode(), secretHash, ip, ttl.String()).Scan(&code, &expires)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" { // the code is taken (perhaps by an expired row)
			_, _ = s.pool.Exec(ctx, `DELETE FROM display_pairings WHERE expires_at <= now()`)
			continue
		}
		return code, expires, err
	}
	return "", time.Time{}, fmt.Errorf("pairing: no free code after 5 attempts: %w", err)
}

// countPairings returns how many screens are waiting to be paired.
func (s *store) countPairings(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM display_pairings WHERE expires_at > now()`).Scan(&n)
	return n, err
}

func (s *store) cleanupPairings(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM display_pairings WHERE expires_at < now() - interval '1 hour'`)
	return err
}
