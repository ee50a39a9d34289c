package hubtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/communehub/communehub/hub"
)

// templateLockClass is the first key of the two-key advisory lock taken
// while a template is built ("ch" for CommuneHub); the second is the
// template's name, hashed.
const templateLockClass = 0x6368

// NewDB returns a pool on a new database of its own, migrated with sets (in
// order: hub.Migrations first, then the package's own), and the database's
// URL for tests that start a whole hub process. Tests that use it can run
// in parallel. The database is dropped when the test ends; cleanups the
// test registers after NewDB run before that.
//
// Migrations run once per distinct set of migrations (hub.Checksum), into a
// template database named chtpl_<first 12 hex digits> that later calls
// copy. Concurrent test binaries build a template once: the building holds
// an advisory lock. With no sets the database is empty, without even
// schema_migrations, for tests of migrating itself.
func NewDB(t testing.TB, sets ...hub.MigrationSet) (*pgxpool.Pool, string) {
	t.Helper()
	base := Postgres(t)
	sum, err := hub.Checksum(sets...)
	if err != nil {
		t.Fatalf("hubtest: %v", err)
	}
	tpl := "chtpl_" + sum[:12]
	if len(sets) == 0 {
		tpl = "template0" // never connectable, so never busy, unlike template1
	}

	ctx, cancel := context.WithTimeout(context.Background(), Timeout(2*time.Minute))
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("hubtest: connect to %s: %v", hub.RedactURL(base), err)
	}
	defer admin.Close(context.Background())
	// The creation time in the name lets pruneStale spot the databases of
	// test binaries that were killed before their cleanup.
	name := fmt.Sprintf("t_%x_%s", time.Now().Unix(), randomHex(6))
	for attempt := 1; ; attempt++ {
		if len(sets) > 0 {
			if err := ensureTemplate(ctx, t, admin, base, tpl, sets); err != nil {
				t.Fatalf("hubtest: template %s: %v", tpl, err)
			}
		}
		_, err := admin.Exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(tpl))
		if err == nil {
			break
		}
		// Another binary may have pruned the template since we looked.
		if pgErr := (*pgconn.PgError)(nil); !errors.As(err, &pgErr) || pgErr.Code != "3D000" || attempt == 3 {
			t.Fatalf("hubtest: create database %s from %s: %v", name, tpl, err)
		}
	}
	dbURL := withDatabase(base, name)
	pool, err := pgxpool.New(ctx, dbURL)
	if err == nil {
		err = pool.Ping(ctx)
	}
	t.Cleanup(func() {
		if pool != nil {
			pool.Close()
		}
		dropDatabase(t, base, name)
	})
	if err != nil {
		t.Fatalf("hubtest: open %s: %v", name, err)
	}
	return pool, dbURL
}

// ensureTemplate builds tpl unless it is complete already. A template is
// marked IS_TEMPLATE only once migrated, so one left half-built by a killed
// binary is rebuilt. It refuses connections, which would block the copies.
func ensureTemplate(ctx context.Context, t testing.TB, admin *pgx.Conn, base, tpl string, sets []hub.MigrationSet) error {
	ready := func() (bool, error) {
		var ok bool
		err := admin.QueryRow(ctx, `SELECT coalesce((SELECT datistemplate FROM pg_database WHERE datname = $1), false)`, tpl).Scan(&ok)
		return ok, err
	}
	if ok, err := ready(); ok || err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock($1, hashtext($2))`, templateLockClass, tpl); err != nil {
		return fmt.Errorf("take advisory lock: %w", err)
	}
	defer admin.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, hashtext($2))`, templateLockClass, tpl)
	if ok, err := ready(); ok || err != nil {
		return err // built by another test while we waited
	}

	start := time.Now()
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(tpl)+" WITH (FORCE)"); err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident(tpl)); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, withDatabase(base, tpl))
	if err != nil {
		return err
	}
	err = hub.Migrate(ctx, pool, nil, sets...)
	pool.Close()
	if err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, "COMMENT ON DATABASE "+ident(tpl)+" IS "+literal(builtPrefix+time.Now().UTC().Format(time.RFC3339))); err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+ident(tpl)+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return err
	}
	t.Logf("hubtest: built template database %s in %v", tpl, time.Since(start).Round(time.Millisecond))
	pruneStale(ctx, t, admin, tpl)
	return nil
}

// builtPrefix starts a template's comment, followed by its build time.
const builtPrefix = "CommuneHub test template, built "

// staleAfter is the age past which a test database belongs to a dead test
// binary, and a template most likely to migrations that have changed since.
const staleAfter = 24 * time.Hour

// pruneStale drops what the server would otherwise pile up: databases of
// test binaries killed before their cleanup, and templates of old
// migrations (one per edit of a migration file). It runs when a template is
// built, which is rare. A template still in use is simply rebuilt by the
// next NewDB; one being built or pruned elsewhere holds its lock and is
// left alone. Failures are only logged.
func pruneStale(ctx context.Context, t testing.TB, admin *pgx.Conn, keep string) {
	rows, err := admin.Query(ctx, `SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '')
		FROM pg_database WHERE datname LIKE 't\_%' OR datname LIKE 'chtpl\_%'`)
	if err != nil {
		t.Logf("hubtest: list stale databases: %v", err)
		return
	}
	type db struct{ name, comment string }
	dbs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (db, error) {
		var d db
		return d, r.Scan(&d.name, &d.comment)
	})
	if err != nil {
		t.Logf("hubtest: list stale databases: %v", err)
		return
	}
	for _, d := range dbs {
		if d.name == keep || !stale(d.name, d.comment, time.Now()) {
			continue
		}
		if strings.HasPrefix(d.name, "t_") {
			_, err = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(d.name)+" WITH (FORCE)")
		} else {
			err = dropTemplate(ctx, admin, d.name)
		}
		if err != nil {
			t.Logf("hubtest: drop stale database %s: %v", d.name, err)
		} else {
			t.Logf("hubtest: dropped stale database %s", d.name)
		}
	}
}

// stale reports whether a database is one of ours and stale: a test
// database's age is in its name (t_<8 hex: unix time>_<12 hex>), a
// template's in its comment (one without was never finished). Names of any
// other shape are never stale: the server may be shared.
func stale(name, comment string, now time.Time) bool {
	var made time.Time
	if rest, ok := strings.CutPrefix(name, "t_"); ok {
		hexTime, random, ok := strings.Cut(rest, "_")
		sec, err := strconv.ParseInt(hexTime, 16, 64)
		if !ok || err != nil || len(hexTime) != 8 || !isHex(random, 12) {
			return false
		}
		made = time.Unix(sec, 0)
	} else if rest, ok := strings.CutPrefix(name, "chtpl_"); ok && isHex(rest, 12) {
		ts, ok := strings.CutPrefix(comment, builtPrefix)
		built, err := time.Parse(time.RFC3339, ts)
		if !ok || err != nil {
			return true
		}
		made = built
	} else {
		return false
	}
	return now.Sub(made) > staleAfter
}

func isHex(s string, n int) bool {
	_, err := hex.DecodeString(s)
	return len(s) == n && err == nil
}

// dropTemplate drops a template unless someone holds its lock.
func dropTemplate(ctx context.Context, admin *pgx.Conn, name string) error {
	var locked bool
	if err := admin.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, templateLockClass, name).Scan(&locked); err != nil || !locked {
		return err
	}
	defer admin.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, hashtext($2))`, templateLockClass, name)
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+ident(name)+" WITH IS_TEMPLATE false"); err != nil {
		return err
	}
	_, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)")
	return err
}

func dropDatabase(t testing.TB, base, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout(30*time.Second))
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err == nil {
		_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)")
		conn.Close(ctx)
	}
	if err != nil {
		t.Errorf("hubtest: drop database %s: %v", name, err)
	}
}

// withDatabase returns base with its database replaced by name; base is a
// postgres:// URL or a keyword/value string.
func withDatabase(base, name string) string {
	if u, err := url.Parse(base); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		u.RawPath = ""
		return u.String()
	}
	return base + " dbname=" + name // a later keyword wins
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b)
}
