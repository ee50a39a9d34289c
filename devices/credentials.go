package devices

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/communehub/communehub/hub"
)

// Credential is an embedded-broker login: per device (Device set) or per
// commune (Device empty). The secret itself is never stored.
type Credential struct {
	ID        int64      `json:"id" db:"id"`
	Unit      string     `json:"unit" db:"unit"`
	Device    *string    `json:"device" db:"device"`
	Username  string     `json:"username" db:"username"`
	CreatedAt time.Time  `json:"created_at" db:"created_at"`
	RevokedAt *time.Time `json:"revoked_at" db:"revoked_at"`
}

func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// CreateCredential makes a login for a device (device non-empty) or for a
// whole commune, and returns the username and the password, which is shown
// once: only its SHA-256 is stored (it is 32 random bytes, so a fast hash
// is enough and a reconnect storm costs nothing). A per-device credential
// also registers the device.
func CreateCredential(ctx context.Context, pool *pgxpool.Pool, unit, device string) (Credential, string, error) {
	if !validUnit(unit) {
		return Credential{}, "", hub.FieldError("unit", "must be a 5-digit commune code")
	}
	if device != "" && !validID(device) {
		return Credential{}, "", hub.FieldError("device", "must be 1–64 of A-Z a-z 0-9 _ . -")
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	secret := base64.RawURLEncoding.EncodeToString(raw)
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	username := unit + "." + hex.EncodeToString(suffix)
	var dev *string
	if device != "" {
		username = unit + "." + device + "." + hex.EncodeToString(suffix)
		dev = &device
	}
	var c Credential
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var known bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS(SELECT 1 FROM admin_units WHERE code=$1 AND level='commune')`, unit).Scan(&known); err != nil {
			return err
		}
		if !known {
			return &hub.Error{Code: hub.EUnprocessable, Field: "unit", Message: fmt.Sprintf("no current commune %q", unit)}
		}
		if err := tx.QueryRow(ctx, `INSERT INTO device_credentials(unit, device, username, secret_hash) VALUES ($1,$2,$3,$4)
			RETURNING id, unit, device, username, created_at, revoked_at`, unit, dev, username, hashSecret(secret)).
			Scan(&c.ID, &c.Unit, &c.Device, &c.Username, &c.CreatedAt, &c.RevokedAt); err != nil {
			return err
		}
		if dev != nil {
			_, err := tx.Exec(ctx, `INSERT INTO devices(unit, id, registration) VALUES ($1,$2,'registered')
				ON CONFLICT (unit, id) DO UPDATE SET registration='registered' WHERE devices.registration='unregistered'`, unit, device)
			return err
		}
		return nil
	})
	return c, secret, err
}

// ListCredentials lists the logins of unit (all when empty).
func ListCredentials(ctx context.Context, pool *pgxpool.Pool, unit string) ([]Credential, error) {
	rows, err := pool.Query(ctx, `SELECT id, unit, device, username, created_at, revoked_at FROM device_credentials
		WHERE $1 = '' OR unit = $1 ORDER BY unit, id`, unit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByName[Credential])
}

// RevokeCredential revokes a login; clients using it are refused from
// their next connection.
func RevokeCredential(ctx context.Context, pool *pgxpool.Pool, id int64) error {
	tag, err := pool.Exec(ctx, `UPDATE device_credentials SET revoked_at=now() WHERE id=$1 AND revoked_at IS NULL`, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return hub.Errorf(hub.ENotFound, "no live credential %d", id)
	}
	return nil
}

// credential is a cached login.
type credential struct {
	unit, device string
	hash         []byte
}

// authenticator checks embedded-broker logins and ACLs against
// device_credentials, cached in memory (a miss is looked up at once;
// the cache is refreshed every 30 s, which is how revocations arrive).
type authenticator struct {
	pool      *pgxpool.Pool
	anonymous bool
	telegraf  string

	mu    sync.RWMutex
	creds map[string]credential
}

func newAuthenticator(pool *pgxpool.Pool, anonymous bool, telegraf string) *authenticator {
	return &authenticator{pool: pool, anonymous: anonymous, telegraf: telegraf, creds: map[string]credential{}}
}

func (a *authenticator) reload(ctx context.Context) error {
	rows, err := a.pool.Query(ctx, `SELECT username, unit, coalesce(device,''), secret_hash FROM device_credentials WHERE revoked_at IS NULL`)
	if err != nil {
		return err
	}
	defer rows.Close()
	m := map[string]credential{}
	for rows.Next() {
		var u string
		var c credential
		if err := rows.Scan(&u, &c.unit, &c.device, &c.hash); err != nil {
			return err
		}
		m[u] = c
	}
	if err := rows.Err(); err != nil {
		return err
	}
	a.mu.Lock()
	a.creds = m
	a.mu.Unlock()
	return nil
}

func (a *authenticator) lookup(ctx context.Context, username string) (credential, bool) {
	a.mu.RLock()
	c, ok := a.creds[username]
	a.mu.RUnlock()
	if ok {
		return c, true
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := a.pool.QueryRow(ctx, `SELECT unit, coalesce(device,''), secret_hash FROM device_credentials
		WHERE username=$1 AND revoked_at IS NULL`, username).Scan(&c.unit, &c.device, &c.hash)
	if err != nil {
		return c, false
	}
	a.mu.Lock()
	a.creds[username] = c
	a.mu.Unlock()
	return c, true
}

// authenticate checks a CONNECT's username and password.
func (a *authenticator) authenticate(ctx context.Context, username string, password []byte) bool {
	if username == "" {
		return a.anonymous
	}
	c, ok := a.lookup(ctx, username)
	if !ok {
		return false
	}
	h := sha256.Sum256(password)
	return subtle.ConstantTimeCompare(h[:], c.hash) == 1
}

// allowed is the ACL: a per-device login reads and writes only under
// communehub/{unit}/{device}/ (and its own Telegraf agent topics), a
// per-commune login under its commune. Anonymous clients exist only in
// demo mode and may do anything.
func (a *authenticator) allowed(username, topic string) bool {
	if username == "" {
		return a.anonymous
	}
	a.mu.RLock()
	c, ok := a.creds[username]
	a.mu.RUnlock()
	if !ok {
		return false
	}
	prefixes := []string{TopicPrefix + "/" + c.unit + "/"}
	if a.telegraf != "" {
		prefixes = append(prefixes, a.telegraf+"/"+c.unit+"/")
	}
	for _, p := range prefixes {
		rest, ok := strings.CutPrefix(topic, p)
		if !ok {
			continue
		}
		if c.device == "" {
			return !strings.ContainsAny(rest, "#+") || rest == "#"
		}
		dev, _, _ := strings.Cut(rest, "/")
		if dev == c.device {
			return true
		}
	}
	return false
}
