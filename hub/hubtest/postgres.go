package hubtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/pgembed"
)

// localURL is the machine's PostgreSQL as Debian installs it for tests.
const localURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// slots bounds how many test binaries can run an embedded server at once.
// Each slot directory keeps its cluster (and its template databases) from
// run to run, so only the first run in a slot pays for initdb.
const slots = 16

// server is the harness's process-wide state: the PostgreSQL the tests of
// this binary use, chosen once by the first test that asks.
var server struct {
	once     sync.Once
	url      string          // "" when none could be had
	missing  string          // why, when url is ""
	embedded *pgembed.Server // started by this binary; Main stops it
}

// Postgres returns the URL of the PostgreSQL server the tests use, connected
// to its "postgres" database as a superuser: COMMUNEHUB_TEST_DATABASE_URL if
// set, else the machine's server at 127.0.0.1:5432 if it lets user postgres
// in, else an embedded server started once for this test binary. With none,
// it skips the test (fails it with CI=true) saying what is missing. Most
// tests want NewDB instead.
func Postgres(t testing.TB) string {
	t.Helper()
	server.once.Do(choosePostgres)
	if server.url == "" {
		skipOrFatal(t, "needs PostgreSQL: "+server.missing)
	}
	return server.url
}

// Main runs the tests, then stops the embedded server this binary started,
// if any. Use it as the body of TestMain in every package whose tests touch
// PostgreSQL.
func Main(m *testing.M) {
	code := m.Run()
	removeBinaries()
	server.once.Do(func() {}) // orders this read after the tests' writes
	if server.embedded != nil {
		if err := server.embedded.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "hubtest:", err)
		}
	}
	os.Exit(code)
}

func choosePostgres() {
	if u := os.Getenv("COMMUNEHUB_TEST_DATABASE_URL"); u != "" {
		server.url = u
		return
	}
	var why []string
	if os.Getenv("COMMUNEHUB_TEST_EMBEDDED") == "1" {
		why = append(why, "127.0.0.1:5432 not tried (COMMUNEHUB_TEST_EMBEDDED=1)")
	} else if err := tryConnect(localURL); err != nil {
		why = append(why, "none usable at 127.0.0.1:5432 ("+err.Error()+")")
	} else {
		server.url = localURL
		return
	}
	srv, err := startEmbedded()
	if err != nil {
		why = append(why, "no embedded server ("+err.Error()+")")
		server.missing = strings.Join(why, "; ") + "; install PostgreSQL (apt-get install postgresql) or set COMMUNEHUB_TEST_DATABASE_URL"
		return
	}
	server.embedded = srv
	server.url = srv.URL()
}

func tryConnect(url string) error {
	if !hub.PostgresAnswers("127.0.0.1:5432", Timeout(time.Second)) {
		return errors.New("nothing listens")
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout(5*time.Second))
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// startEmbedded starts a server in the first free slot under os.TempDir.
// pgembed locks a slot while its server runs, so concurrent test binaries
// take different slots, and stops a server left in a slot by a binary that
// died.
func startEmbedded() (*pgembed.Server, error) {
	// Per user: another user could neither write nor lock our slots.
	base := filepath.Join(os.TempDir(), fmt.Sprintf("communehub-test-pg-%d", os.Getuid()))
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	// Traversable, so that the postgres user can reach its slot when we
	// are root, whatever the umask.
	if err := os.Chmod(base, 0o755); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout(2*time.Minute))
	defer cancel()
	for i := range slots {
		srv, err := pgembed.Start(ctx, pgembed.Options{Dir: filepath.Join(base, fmt.Sprintf("slot-%d", i))})
		if errors.Is(err, pgembed.ErrInUse) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := prepareEmbedded(ctx, srv.URL()); err != nil {
			srv.Stop()
			return nil, err
		}
		return srv, nil
	}
	return nil, fmt.Errorf("all %d slots under %s are in use", slots, base)
}

// prepareEmbedded trades durability for speed, as befits a throwaway test
// cluster, and drops the databases of tests that died before their cleanup:
// the slot is ours alone, so no other binary's test can be using them.
func prepareEmbedded(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, sql := range []string{
		`ALTER SYSTEM SET fsync = off`,
		`ALTER SYSTEM SET synchronous_commit = off`,
		`ALTER SYSTEM SET full_page_writes = off`,
		`SELECT pg_reload_conf()`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
	}
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 't\_%'`)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, name := range names {
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			return err
		}
	}
	return nil
}
