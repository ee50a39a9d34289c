package pgembed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	embeddedpostgres "github.com/fergusstrange/embedded-postgres"
)

// ErrInUse is returned by Start when another Server, in this process or
// another one, runs on the same Dir.
var ErrInUse = errors.New("directory in use by another running server")

// FirstPort is where Start begins its search for a free port when
// Options.Port is 0, next to the usual 5432.
const FirstPort = 5433

// Options configures Start.
type Options struct {
	// Dir holds everything the server needs: the data (kept across starts),
	// the superuser password, wrapper scripts and runtime files. Required.
	// As root, Dir and its parents must be traversable by the postgres user.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks the first free one from
	// FirstPort.
	Port uint32
	// Logger receives pgembed's messages and, at debug level, the output of
	// initdb and pg_ctl. Nil discards them. The server's own log goes to
	// Dir/pg/data/log, one file per weekday.
	Logger *slog.Logger
}

// Server is a PostgreSQL server started by Start. Its methods are safe for
// concurrent use.
type Server struct {
	port     uint32
	password string
	log      *slog.Logger
	logFile  string // the library's output file, removed by Stop ("" if unknown)

	mu   sync.Mutex
	ep   *embeddedpostgres.EmbeddedPostgres // nil once stopped
	lock *os.File                           // flock on Dir, held while running
}

// layout is where things live under Options.Dir.
type layout struct {
	dir      string
	lockFile string // flock held while a Server runs here
	password string // superuser password, readable by us only
	binRoot  string // BinariesPath: wrapper scripts in binRoot/bin
	pg       string // owned by the postgres user when we are root
	data     string // the data directory, reused across starts
	runtime  string // RuntimePath: wiped by the library at each start
}

func newLayout(dir string) layout {
	return layout{
		dir:      dir,
		lockFile: filepath.Join(dir, "pgembed.lock"),
		password: filepath.Join(dir, "pgembed.password"),
		binRoot:  filepath.Join(dir, "pgbin"),
		pg:       filepath.Join(dir, "pg"),
		data:     filepath.Join(dir, "pg", "data"),
		runtime:  filepath.Join(dir, "pgrun"),
	}
}

// Start runs PostgreSQL with its data under o.Dir, creating the cluster on
// first use, and returns once it accepts connections. It uses the machine's
// own binaries and never downloads any; without them the error (ErrNoBinaries)
// says what to install. A server left running on o.Dir by a process that died
// is stopped first. ctx bounds the preparation; the start itself is bounded
// by a timeout of its own.
func Start(ctx context.Context, o Options) (*Server, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Dir == "" {
		return nil, errors.New("pgembed: Options.Dir is required")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("pgembed: %w", err)
	}
	l := newLayout(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("pgembed: %w", err)
	}
	lock, err := lockFile(l.lockFile)
	if err != nil {
		return nil, fmt.Errorf("pgembed: lock %s: %w", dir, err)
	}
	s, err := start(ctx, o, l, log)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("pgembed: %w", err)
	}
	s.lock = lock
	return s, nil
}

func start(ctx context.Context, o Options, l layout, log *slog.Logger) (*Server, error) {
	bins, err := findBinaries(ctx)
	if err != nil {
		return nil, err
	}
	var acct *account
	if os.Geteuid() == 0 {
		if acct, err = findAccount(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(l.pg, 0o700); err != nil {
		return nil, err
	}
	if acct != nil {
		if err := acct.chownTree(l.pg); err != nil {
			return nil, fmt.Errorf("give %s to user %s: %w", l.pg, acct.name, err)
		}
		if err := acct.checkWritable(ctx, l.pg); err != nil {
			return nil, err
		}
	}
	if err := writeWrappers(filepath.Join(l.binRoot, "bin"), bins.dir, acct); err != nil {
		return nil, fmt.Errorf("write wrapper scripts: %w", err)
	}
	initialised, err := checkDataVersion(l.data, bins)
	if err != nil {
		return nil, err
	}
	password, err := readOrCreatePassword(l.password, initialised)
	if err != nil {
		return nil, err
	}
	if initialised {
		if err := stopLeftover(ctx, l, log); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	base := embeddedpostgres.DefaultConfig().
		Version(embeddedpostgres.PostgresVersion(bins.version)).
		Username("postgres").
		Password(password).
		Database("postgres").
		BinariesPath(l.binRoot).
		CachePath(filepath.Join(l.runtime, "cache")).
		RuntimePath(l.runtime).
		DataPath(l.data).
		Encoding("UTF8").
		Locale(utf8Locale(ctx)).
		StartTimeout(60 * time.Second).
		Logger(logWriter{log}).
		StartParameters(map[string]string{
			"listen_addresses":         "127.0.0.1",
			"unix_socket_directories":  "", // TCP only: no socket path to own or to outgrow
			"logging_collector":        "on",
			"log_directory":            "log",
			"log_filename":             "postgresql-%a.log",
			"log_truncate_on_rotation": "on",
			"log_rotation_age":         "1d",
			"log_rotation_size":        "0",
		})

	port, auto := o.Port, o.Port == 0
	next := uint32(FirstPort)
	for attempt := 1; ; attempt++ {
		if auto {
			if port, err = freePort(next); err != nil {
				return nil, err
			}
		}
		log.Info("starting embedded PostgreSQL", "version", bins.version, "binaries", bins.dir, "data", l.data, "port", port, "as", accountName(acct))
		ep := embeddedpostgres.NewDatabase(base.Port(port))
		logsBefore := libraryLogs()
		err := ep.Start()
		logFile := newLibraryLog(logsBefore)
		if err == nil {
			return &Server{port: port, password: password, log: log, ep: ep, logFile: logFile}, nil
		}
		if logFile != "" {
			os.Remove(logFile) // its content is in err
		}
		// Another process may have taken the port between the check and
		// the bind; only then is another port worth a try.
		if !auto || attempt == 5 || portFree(port) {
			return nil, err
		}
		next = port + 1
	}
}

// URL returns the superuser's URL of the server's "postgres" database.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable", s.password, s.port)
}

// Stop shuts the server down (fast mode: sessions are ended, data is
// checkpointed) and releases Dir. Calling it again does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ep == nil {
		return nil
	}
	err := s.ep.Stop()
	s.ep = nil
	s.lock.Close()
	if s.logFile != "" {
		os.Remove(s.logFile) // flushed to the Logger by ep.Stop
	}
	if err != nil {
		return fmt.Errorf("pgembed: stop PostgreSQL on port %d: %w", s.port, err)
	}
	s.log.Info("embedded PostgreSQL stopped", "port", s.port)
	return nil
}

// checkDataVersion reports whether data holds a cluster, and refuses one
// made by another major version: the library would silently wipe it.
func checkDataVersion(data string, bins binaries) (bool, error) {
	b, err := os.ReadFile(filepath.Join(data, "PG_VERSION"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if v := strings.TrimSpace(string(b)); v != bins.major() {
		return false, fmt.Errorf("the data in %s was made by PostgreSQL %s but the binaries in %s are %s: "+
			"install PostgreSQL %s, or upgrade the data with pg_upgrade", data, v, bins.dir, bins.version, v)
	}
	return true, nil
}

// readOrCreatePassword returns the superuser password: a random one made
// with the cluster, so that other local users cannot log in as postgres.
func readOrCreatePassword(path string, initialised bool) (string, error) {
	if initialised {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read the password of the existing cluster: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 18)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	pw := hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return "", err
	}
	return pw, nil
}

// stopLeftover stops a server still running on the data directory, left by
// a process that died without stopping it. We hold Dir's lock, so it has no
// living owner.
func stopLeftover(ctx context.Context, l layout, log *slog.Logger) error {
	if _, err := os.Stat(filepath.Join(l.data, "postmaster.pid")); err != nil {
		return nil
	}
	pgctl := filepath.Join(l.binRoot, "bin", "pg_ctl")
	if exec.CommandContext(ctx, pgctl, "status", "-D", l.data).Run() != nil {
		return nil // not running: postgres clears a stale pid file itself
	}
	log.Warn("stopping a PostgreSQL left running by an earlier process", "data", l.data)
	out, err := exec.CommandContext(ctx, pgctl, "stop", "-w", "-t", "60", "-m", "fast", "-D", l.data).CombinedOutput()
	if err != nil {
		return fmt.Errorf("stop the PostgreSQL left running on %s: %w: %s", l.data, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func freePort(from uint32) (uint32, error) {
	for p := from; p < from+200 && p <= 65535; p++ {
		if portFree(p) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free TCP port in %d-%d on 127.0.0.1", from, from+199)
}

func portFree(p uint32) bool {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func accountName(a *account) string {
	if a == nil {
		return "current user"
	}
	return a.name
}

// logWriter passes the output of initdb and pg_ctl to slog, line by line.
type logWriter struct{ log *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(string(p), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			w.log.Debug("postgres", "output", line)
		}
	}
	return len(p), nil
}
