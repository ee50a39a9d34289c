package pgembed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ErrNoBinaries is returned by Start when the machine has no PostgreSQL
// server binaries (initdb, pg_ctl and postgres in one directory).
var ErrNoBinaries = errors.New("no PostgreSQL server binaries found (looked at pg_config --bindir, /usr/lib/postgresql/*/bin and PATH): " +
	"install them (Debian: apt-get install postgresql) or set COMMUNEHUB_DATABASE_URL to a reachable PostgreSQL server")

// programs are the binaries the library runs; pg_ctl starts the postgres
// found next to its own resolved path.
var programs = [...]string{"initdb", "pg_ctl", "postgres"}

// binaries is a PostgreSQL server installation found on the machine.
type binaries struct {
	dir     string // real directory holding every name in programs
	version string // e.g. "15.20"
}

// major is what initdb writes to PG_VERSION: "15", or "9.6" before 10.
func (b binaries) major() string {
	parts := strings.Split(b.version, ".")
	if n, _ := strconv.Atoi(parts[0]); n < 10 && len(parts) > 1 {
		return parts[0] + "." + parts[1]
	}
	return parts[0]
}

// findBinaries looks at pg_config --bindir, then /usr/lib/postgresql/*/bin
// newest first, then PATH, and returns the first directory that holds every
// program. pg_config alone is not enough: Debian's libpq-dev ships it without
// the server.
func findBinaries(ctx context.Context) (binaries, error) {
	var dirs []string
	if out, err := exec.CommandContext(ctx, "pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	dirs = append(dirs, debianBinDirs()...)
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, d := range dirs {
		real, ok := completeDir(d)
		if !ok {
			continue
		}
		v, err := serverVersion(ctx, real)
		if err != nil {
			return binaries{}, err
		}
		return binaries{dir: real, version: v}, nil
	}
	return binaries{}, ErrNoBinaries
}

// debianBinDirs lists /usr/lib/postgresql/<version>/bin, newest first.
func debianBinDirs() []string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	key := func(d string) []int {
		var v []int
		for _, p := range strings.Split(filepath.Base(filepath.Dir(d)), ".") {
			n, _ := strconv.Atoi(p)
			v = append(v, n)
		}
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return slices.Compare(key(b), key(a)) })
	return dirs
}

// completeDir reports the real directory of dir's programs when all of them
// are there and resolve (through symlinks such as /usr/local/bin's) to the
// same directory.
func completeDir(dir string) (string, bool) {
	real := ""
	for _, p := range programs {
		r, err := filepath.EvalSymlinks(filepath.Join(dir, p))
		if err != nil {
			return "", false
		}
		st, err := os.Stat(r)
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return "", false
		}
		if real == "" {
			real = filepath.Dir(r)
		} else if filepath.Dir(r) != real {
			return "", false
		}
	}
	return real, true
}

var versionRE = regexp.MustCompile(`\(PostgreSQL\) (\d+(?:\.\d+)*)`)

func serverVersion(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(dir, "postgres"), "--version").Output()
	if err != nil {
		return "", fmt.Errorf("run %s --version: %w", filepath.Join(dir, "postgres"), err)
	}
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("cannot read the version in %q from %s --version", strings.TrimSpace(string(out)), filepath.Join(dir, "postgres"))
	}
	return string(m[1]), nil
}

// utf8Locale picks C.UTF-8 when the C library has it, so that upper(),
// lower() and ILIKE know Vietnamese letters; else plain C (bytewise, but the
// encoding is UTF8 either way).
func utf8Locale(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "locale", "-a").Output()
	if err == nil {
		for _, l := range strings.Fields(string(out)) {
			if strings.EqualFold(l, "C.utf8") || strings.EqualFold(l, "C.UTF-8") {
				return l
			}
		}
	}
	return "C"
}
