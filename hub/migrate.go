package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MigrationSet is one component's versioned SQL migrations: files named
// NNNN_description.sql in FS (the root of an embed.FS sub-tree), applied in
// order of NNNN. Each component (hub, backlog, devices, …) owns its own set so
// that features can add tables without touching each other.
type MigrationSet struct {
	Component string // unique key in schema_migrations, e.g. "hub", "backlog"
	FS        fs.FS
}

// EmbeddedMigrations is component's migration set from the "migrations"
// directory of fsys (a package's //go:embed migrations/*.sql): the one way
// every feature declares its schema.
func EmbeddedMigrations(component string, fsys fs.FS) MigrationSet {
	return MigrationSet{Component: component, FS: mustSub(fsys, "migrations")}
}

// migrationLockID is the advisory lock key that serialises migrations across
// hub instances starting at once ("communehub" folded into an int64).
const migrationLockID int64 = 0x636f6d6d756e65

type migration struct {
	version int
	name    string
	sql     string
}

func (s MigrationSet) list() ([]migration, error) {
	entries, err := fs.ReadDir(s.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations of %s: %w", s.Component, err)
	}
	var out []migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s/%s: name must be NNNN_description.sql", s.Component, e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migration %s: version %d used by %s and %s", s.Component, v, prev, e.Name())
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(s.FS, path.Join(".", e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// Checksum returns a digest of every migration of the sets, in order. Test
// harnesses use it to key template databases.
func Checksum(sets ...MigrationSet) (string, error) {
	h := sha256.New()
	for _, s := range sets {
		ms, err := s.list()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\n", s.Component)
		for _, m := range ms {
			fmt.Fprintf(h, "%d %s\n%s\n", m.version, m.name, m.sql)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Migrate applies every pending migration of the sets, in the order given
// (hub first, then features), each in its own transaction, while holding a
// session advisory lock so that two hubs starting at once cannot race.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger, sets ...MigrationSet) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: acquire connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLockID); err != nil {
		return fmt.Errorf("migrate: take advisory lock: %w", err)
	}
	defer func() {
		// A fresh context: the unlock must happen even when ctx is done.
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockID)
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		component text NOT NULL,
		version int NOT NULL,
		name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now(),
		PRIMARY KEY (component, version))`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	for _, s := range sets {
		ms, err := s.list()
		if err != nil {
			return err
		}
		var current int
		if err := conn.QueryRow(ctx, `SELECT coalesce(max(version),0) FROM schema_migrations WHERE component=$1`, s.Component).Scan(&current); err != nil {
			return fmt.Errorf("migrate: read version of %s: %w", s.Component, err)
		}
		for _, m := range ms {
			if m.version <= current {
				continue
			}
			err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, m.sql); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `INSERT INTO schema_migrations(component, version, name) VALUES ($1,$2,$3)`, s.Component, m.version, m.name)
				return err
			})
			if err != nil {
				return fmt.Errorf("migrate %s/%s: %w", s.Component, m.name, err)
			}
			if log != nil {
				log.Info("migration applied", "component", s.Component, "migration", m.name)
			}
		}
	}
	return nil
}
