package pgembed

import (
	"os"
	"path/filepath"
	"strings"
)

// The library writes the output of initdb and pg_ctl to a file it makes in
// os.TempDir and never removes. libraryLogs lists the ones this process has
// open (Linux: /proc/self/fd), so that Start can tell which one it made and
// Stop can remove it.
func libraryLogs() map[string]bool {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	prefix := filepath.Join(os.TempDir(), "embedded_postgres_log")
	out := map[string]bool{}
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(target, prefix) {
			out[target] = true
		}
	}
	return out
}

// newLibraryLog returns the one log file open now and not before, or "" when
// that is not certain (another Start ran at the same time).
func newLibraryLog(before map[string]bool) string {
	var found []string
	for p := range libraryLogs() {
		if !before[p] {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		return ""
	}
	return found[0]
}
