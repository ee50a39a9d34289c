package hubtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/communehub/communehub/hub"
)

func TestMain(m *testing.M) { Main(m) }

// thingsSet is a one-table migration set; extra SQL changes its checksum.
func thingsSet(extra string) hub.MigrationSet {
	return hub.MigrationSet{Component: "hubtest", FS: fstest.MapFS{
		"0001_things.sql": {Data: []byte("CREATE TABLE things (id int PRIMARY KEY, name text NOT NULL);\n" + extra)},
	}}
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNewDBGivesIsolatedMigratedDatabases(t *testing.T) {
	a, urlA := NewDB(t, thingsSet(""))
	b, urlB := NewDB(t, thingsSet(""))
	if urlA == urlB {
		t.Fatalf("two NewDB calls gave the same database %s", urlA)
	}
	ctx := context.Background()
	if _, err := a.Exec(ctx, `INSERT INTO things VALUES (1, 'loa phường')`); err != nil {
		t.Fatal(err)
	}
	if n := count(t, a, `SELECT count(*) FROM things`); n != 1 {
		t.Fatalf("a has %d things, want 1", n)
	}
	if n := count(t, b, `SELECT count(*) FROM things`); n != 0 {
		t.Fatalf("b sees %d things written to a", n)
	}
	if n := count(t, b, `SELECT count(*) FROM schema_migrations WHERE component = 'hubtest' AND version = 1`); n != 1 {
		t.Fatalf("b's schema_migrations lacks hubtest/1")
	}

	// The URL reaches the pool's database.
	conn, err := pgx.Connect(ctx, urlA)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var name string
	if err := conn.QueryRow(ctx, `SELECT name FROM things WHERE id = 1`).Scan(&name); err != nil || name != "loa phường" {
		t.Fatalf("via the URL: %q, %v", name, err)
	}
}

// A set never seen before makes parallel tests race to build its template:
// it must be built once, and every database copied from it.
func TestNewDBParallelBuildsTemplateOnce(t *testing.T) {
	set := thingsSet(fmt.Sprintf("-- run %s\n", randomHex(6)))
	sum, err := hub.Checksum(set)
	if err != nil {
		t.Fatal(err)
	}
	tpl := "chtpl_" + sum[:12]
	base := Postgres(t)
	t.Cleanup(func() { // do not leave one template per run on the server
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		for _, sql := range []string{
			"ALTER DATABASE " + ident(tpl) + " WITH IS_TEMPLATE false",
			"DROP DATABASE " + ident(tpl),
		} {
			if _, err := conn.Exec(ctx, sql); err != nil {
				t.Error(err)
			}
		}
	})

	var mu sync.Mutex
	applied := map[time.Time]int{}
	t.Run("group", func(t *testing.T) {
		for i := range 4 {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				pool, _ := NewDB(t, set)
				if _, err := pool.Exec(context.Background(), `INSERT INTO things VALUES ($1, 'x')`, i); err != nil {
					t.Fatal(err)
				}
				var at time.Time
				if err := pool.QueryRow(context.Background(), `SELECT applied_at FROM schema_migrations WHERE component = 'hubtest'`).Scan(&at); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				applied[at]++
				mu.Unlock()
			})
		}
	})
	if len(applied) != 1 {
		t.Fatalf("migrations applied at %d different times, want once (in the template): %v", len(applied), applied)
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var isTemplate, allowConn bool
	if err := conn.QueryRow(ctx, `SELECT datistemplate, datallowconn FROM pg_database WHERE datname = $1`, tpl).Scan(&isTemplate, &allowConn); err != nil {
		t.Fatalf("template %s: %v", tpl, err)
	}
	if !isTemplate || allowConn {
		t.Fatalf("template %s: datistemplate=%v datallowconn=%v", tpl, isTemplate, allowConn)
	}
}

func TestNewDBDropsDatabaseWhenTestEnds(t *testing.T) {
	var name string
	t.Run("user", func(t *testing.T) {
		pool, _ := NewDB(t, thingsSet(""))
		if err := pool.QueryRow(context.Background(), `SELECT current_database()`).Scan(&name); err != nil {
			t.Fatal(err)
		}
		// An open connection must not keep the database alive.
		conn, err := pool.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(conn.Release)
	})
	if !strings.HasPrefix(name, "t_") {
		t.Fatalf("database name %q", name)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil || n != 0 {
		t.Fatalf("database %s still there after its test (%d, %v)", name, n, err)
	}
}

func TestNewDBWithKernelMigrations(t *testing.T) {
	pool, _ := NewDB(t, hub.Migrations, thingsSet(""))
	if n := count(t, pool, `SELECT count(DISTINCT component) FROM schema_migrations`); n != 2 {
		t.Fatalf("%d components migrated, want 2 (hub, hubtest)", n)
	}
}

func TestWithDatabase(t *testing.T) {
	for base, want := range map[string]string{
		"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable":  "postgres://postgres@127.0.0.1:5432/t_x?sslmode=disable",
		"postgresql://u:p%40ss@h:1/db":                                 "postgresql://u:p%40ss@h:1/t_x",
		"host=127.0.0.1 user=postgres dbname=postgres sslmode=disable": "host=127.0.0.1 user=postgres dbname=postgres sslmode=disable dbname=t_x",
	} {
		if got := withDatabase(base, "t_x"); got != want {
			t.Errorf("withDatabase(%q) = %q, want %q", base, got, want)
		}
		if cfg, err := pgx.ParseConfig(withDatabase(base, "t_x")); err != nil || cfg.Database != "t_x" {
			t.Errorf("withDatabase(%q) parses to database %v, %v", base, cfg, err)
		}
	}
}

func TestStale(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tname := func(at time.Time) string { return fmt.Sprintf("t_%x_%s", at.Unix(), "0123456789ab") }
	old, recent := now.Add(-25*time.Hour), now.Add(-time.Hour)
	for _, c := range []struct {
		name, comment string
		want          bool
	}{
		{tname(old), "", true},
		{tname(recent), "", false},
		{"t_1_0123456789ab", "", false},  // not our shape: may be someone's
		{"t_cafe_x", "", false},          // idem
		{"test_db", "", false},           // idem
		{"chtpl_foo", "", false},         // idem
		{"chtpl_0123456789ab", "", true}, // never finished
		{"chtpl_0123456789ab", builtPrefix + old.Format(time.RFC3339), true},
		{"chtpl_0123456789ab", builtPrefix + recent.Format(time.RFC3339), false},
	} {
		if got := stale(c.name, c.comment, now); got != c.want {
			t.Errorf("stale(%q, %q) = %v, want %v", c.name, c.comment, got, c.want)
		}
	}
}

func TestPruneStaleDropsLeftovers(t *testing.T) {
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	old := time.Now().Add(-48 * time.Hour)
	deadTest := fmt.Sprintf("t_%x_%s", old.Unix(), randomHex(6))
	liveTest := fmt.Sprintf("t_%x_%s", time.Now().Unix(), randomHex(6))
	oldTpl := "chtpl_" + randomHex(6)
	for _, sql := range []string{
		"CREATE DATABASE " + ident(deadTest),
		"CREATE DATABASE " + ident(liveTest),
		"CREATE DATABASE " + ident(oldTpl),
		"COMMENT ON DATABASE " + ident(oldTpl) + " IS " + literal(builtPrefix+old.UTC().Format(time.RFC3339)),
		"ALTER DATABASE " + ident(oldTpl) + " WITH IS_TEMPLATE true ALLOW_CONNECTIONS false",
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		dropDatabase(t, Postgres(t), liveTest)
		if t.Failed() {
			dropDatabase(t, Postgres(t), deadTest)
			dropTemplate(ctx, admin, oldTpl)
		}
	})

	pruneStale(ctx, t, admin, "")

	rows, err := admin.Query(ctx, `SELECT datname FROM pg_database WHERE datname = ANY($1)`, []string{deadTest, liveTest, oldTpl})
	if err != nil {
		t.Fatal(err)
	}
	left, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0] != liveTest {
		t.Fatalf("left after pruning: %v, want only %s", left, liveTest)
	}
}

func TestNewDBWithoutSetsIsEmpty(t *testing.T) {
	pool, _ := NewDB(t)
	if n := count(t, pool, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`); n != 0 {
		t.Fatalf("%d tables in a database made without migrations", n)
	}
	if err := hub.Migrate(context.Background(), pool, nil, thingsSet("")); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM things`); n != 0 {
		t.Fatal("things not empty")
	}
}
