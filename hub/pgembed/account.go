package pgembed

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// errRootWithoutUser is returned when running as root with no way to run
// PostgreSQL as someone else.
var errRootWithoutUser = errors.New("PostgreSQL refuses to run as root and there is no unprivileged user (postgres or nobody) " +
	"with setpriv, runuser or su to switch to it: run the hub as a normal user, or set COMMUNEHUB_DATABASE_URL to a reachable PostgreSQL server")

// account is the unprivileged user the binaries run as when we are root.
type account struct {
	name     string
	uid, gid int
	switcher []string // argv that runs the program named after it as name
	su       bool     // switcher is su, which takes the program through a shell
}

// findAccount picks the postgres user, else nobody, and the first of
// setpriv (a plain exec), runuser and su found to switch to it.
func findAccount() (*account, error) {
	var u *user.User
	for _, name := range []string{"postgres", "nobody"} {
		if found, err := user.Lookup(name); err == nil {
			u = found
			break
		}
	}
	if u == nil {
		return nil, errRootWithoutUser
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil || uid == 0 {
		return nil, errRootWithoutUser
	}
	a := &account{name: u.Username, uid: uid, gid: gid}
	if p, err := exec.LookPath("setpriv"); err == nil {
		a.switcher = []string{p, "--reuid=" + u.Username, "--regid=" + u.Gid, "--init-groups", "--"}
	} else if p, err := exec.LookPath("runuser"); err == nil {
		a.switcher = []string{p, "-u", u.Username, "--"}
	} else if p, err := exec.LookPath("su"); err == nil {
		a.switcher = []string{p, "-s", "/bin/sh", u.Username, "-c", `exec "$0" "$@"`}
		a.su = true
	} else {
		return nil, errRootWithoutUser
	}
	return a, nil
}

// argv returns the command line that runs program as the account.
func (a *account) argv(program string) []string {
	return append(append([]string(nil), a.switcher...), program)
}

// chownTree gives everything under dir to the account, so that a data
// directory made by an earlier run as another user keeps working.
func (a *account) chownTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, a.uid, a.gid)
	})
}

// checkWritable asks the account itself whether it can write dir, which
// also needs every parent to be traversable by it.
func (a *account) checkWritable(ctx context.Context, dir string) error {
	args := append(a.argv("/bin/sh"), "-c", `test -w "$1"`, "sh", dir)
	if out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput(); err != nil {
		detail := err.Error()
		if o := strings.TrimSpace(string(out)); o != "" {
			detail += ": " + o
		}
		return fmt.Errorf("PostgreSQL runs as user %s, which cannot write %s (%s): "+
			"make the directory and its parents traversable (chmod o+x) or choose a directory under one that is, such as /var/lib",
			a.name, dir, detail)
	}
	return nil
}

// writeWrappers writes binDir/initdb, pg_ctl and postgres: shell scripts that
// exec the real binaries in realDir, as acct when it is not nil. The library
// runs BinariesPath/bin/X and skips its download when bin/pg_ctl exists.
//
// The scripts live outside the directory given to acct, so that acct cannot
// rewrite what root will run. initdb's --pwfile is written by the library as
// root with mode 0600; the initdb wrapper hands it to acct.
func writeWrappers(binDir, realDir string, acct *account) error {
	if err := os.RemoveAll(binDir); err != nil {
		return err
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	for _, p := range programs {
		real := filepath.Join(realDir, p)
		var b strings.Builder
		b.WriteString("#!/bin/sh\n# Written by CommuneHub's pgembed at each start.\n")
		argv := []string{real}
		if acct != nil {
			fmt.Fprintf(&b, "# Runs %s as user %s: PostgreSQL refuses to run as root.\ncd / || exit 1\n", real, acct.name)
			if p == "initdb" {
				fmt.Fprintf(&b, "for a in \"$@\"; do case \"$a\" in --pwfile=*) f=${a#--pwfile=}; chown %s \"$f\" && chmod o+x \"${f%%/*}\" || exit 1;; esac; done\n",
					shellQuote(acct.name))
			}
			argv = acct.argv(real)
		}
		b.WriteString("exec")
		for _, arg := range argv {
			b.WriteString(" " + shellQuote(arg))
		}
		b.WriteString(" \"$@\"\n")
		if err := os.WriteFile(filepath.Join(binDir, p), []byte(b.String()), 0o755); err != nil {
			return err
		}
	}
	return nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
