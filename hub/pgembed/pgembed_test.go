package pgembed

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub/hubtest/deadline"
	"github.com/jackc/pgx/v5"
)

// testDir is a directory the postgres user can reach when the test runs as
// root: t.TempDir's parents are private to the test's user.
func testDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func needBinaries(t *testing.T) {
	t.Helper()
	if _, err := findBinaries(context.Background()); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func query(t *testing.T, url, sql string, args ...any) pgx.Rows {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline.Timeout(10*time.Second))
	t.Cleanup(cancel)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestStartKeepsDataAcrossRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a server: skipped with -short")
	}
	needBinaries(t)
	dir := testDir(t)
	ctx := context.Background()

	s, err := Start(ctx, Options{Dir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	if !strings.HasPrefix(s.URL(), "postgres://postgres:") || !strings.HasSuffix(s.URL(), "/postgres?sslmode=disable") {
		t.Fatalf("URL() = %q", s.URL())
	}
	firstURL := s.URL()

	query(t, s.URL(), `CREATE TABLE kept AS SELECT 'xin chào'::text AS v`).Close()
	rows := query(t, s.URL(), `SELECT current_setting('server_encoding'), current_user`)
	var enc, who string
	if _, err := pgx.ForEachRow(rows, []any{&enc, &who}, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if enc != "UTF8" || who != "postgres" {
		t.Errorf("encoding %q user %q, want UTF8 postgres", enc, who)
	}

	// A second server on the same directory must be refused, not started.
	if _, err := Start(ctx, Options{Dir: dir}); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Start on the same Dir: %v, want ErrInUse", err)
	}

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if !portFree(s.port) {
		t.Fatalf("port %d still answers after Stop", s.port)
	}

	s2, err := Start(ctx, Options{Dir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Stop() })
	if pw := func(u string) string { return strings.Split(strings.TrimPrefix(u, "postgres://postgres:"), "@")[0] }; pw(s2.URL()) != pw(firstURL) {
		t.Errorf("password changed across restarts")
	}
	var v string
	if _, err := pgx.ForEachRow(query(t, s2.URL(), `SELECT v FROM kept`), []any{&v}, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if v != "xin chào" {
		t.Fatalf("after restart kept.v = %q", v)
	}
	if err := s2.Stop(); err != nil {
		t.Fatal(err)
	}
}

func TestStartOnGivenPort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers: skipped with -short")
	}
	needBinaries(t)
	port, err := freePort(FirstPort + 50)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(context.Background(), Options{Dir: testDir(t), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if !strings.Contains(s.URL(), "@127.0.0.1:"+strconv.Itoa(int(port))+"/") {
		t.Fatalf("URL %q does not use port %d", s.URL(), port)
	}
	// The port is taken now: a second server asked for it must fail
	// rather than pick another one.
	if s2, err := Start(context.Background(), Options{Dir: testDir(t), Port: port}); err == nil {
		s2.Stop()
		t.Fatal("Start on a busy port succeeded")
	}
}

func TestStopsServerLeftByDeadProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a server: skipped with -short")
	}
	needBinaries(t)
	dir := testDir(t)
	s, err := Start(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// Forget the server without stopping it, as a crashed process would.
	s.lock.Close()
	if s.logFile != "" {
		os.Remove(s.logFile)
	}
	s2, err := Start(context.Background(), Options{Dir: dir, Logger: testLogger(t)})
	if err != nil {
		s.Stop()
		t.Fatal(err)
	}
	defer s2.Stop()
	var one int
	if _, err := pgx.ForEachRow(query(t, s2.URL(), `SELECT 1`), []any{&one}, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestRefusesDataOfAnotherMajorVersion(t *testing.T) {
	l := newLayout(t.TempDir())
	if err := os.MkdirAll(l.data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l.data, "PG_VERSION"), []byte("14\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := checkDataVersion(l.data, binaries{dir: "/x", version: "15.20"})
	if err == nil || !strings.Contains(err.Error(), "pg_upgrade") {
		t.Fatalf("err = %v, want a refusal naming pg_upgrade", err)
	}
	ok, err := checkDataVersion(l.data, binaries{dir: "/x", version: "14.3"})
	if !ok || err != nil {
		t.Fatalf("same major: %v %v", ok, err)
	}
}

func TestMajor(t *testing.T) {
	for v, want := range map[string]string{"15.20": "15", "9.6.24": "9.6", "18": "18", "10.1": "10"} {
		if got := (binaries{version: v}).major(); got != want {
			t.Errorf("major(%q) = %q, want %q", v, got, want)
		}
	}
}

func TestNoBinariesMessageSaysWhatToDo(t *testing.T) {
	for _, want := range []string{"apt-get install postgresql", "COMMUNEHUB_DATABASE_URL"} {
		if !strings.Contains(ErrNoBinaries.Error(), want) {
			t.Errorf("ErrNoBinaries does not mention %q", want)
		}
	}
	for _, want := range []string{"normal user", "COMMUNEHUB_DATABASE_URL"} {
		if !strings.Contains(errRootWithoutUser.Error(), want) {
			t.Errorf("root error does not mention %q", want)
		}
	}
}

func TestWrappers(t *testing.T) {
	dir := t.TempDir()
	acct := &account{name: "post'gres", switcher: []string{"/usr/bin/setpriv", "--reuid=post'gres", "--"}}
	if err := writeWrappers(dir, "/opt/pg 15/bin", acct); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "initdb"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`chown 'post'\''gres' "$f"`, `exec '/usr/bin/setpriv' '--reuid=post'\''gres' '--' '/opt/pg 15/bin/initdb' "$@"`} {
		if !strings.Contains(s, want) {
			t.Errorf("initdb wrapper lacks %s:\n%s", want, s)
		}
	}
	if err := writeWrappers(dir, "/usr/lib/postgresql/15/bin", nil); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "pg_ctl"))
	if !strings.HasSuffix(string(b), "exec '/usr/lib/postgresql/15/bin/pg_ctl' \"$@\"\n") || strings.Contains(string(b), "setpriv") {
		t.Errorf("plain pg_ctl wrapper:\n%s", b)
	}
}

func TestRootNeedsDirTheUserCanReach(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root hands the server to another user")
	}
	needBinaries(t)
	dir := filepath.Join(t.TempDir(), "private") // t.TempDir is 0700, root's
	_, err := Start(context.Background(), Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "cannot write") || !strings.Contains(err.Error(), "chmod o+x") {
		t.Fatalf("err = %v, want one saying the directory is out of the postgres user's reach", err)
	}
	t.Log(err)
}
