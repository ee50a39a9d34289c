//go:build unix

package hub

import "syscall"

// RaiseFileLimit raises the soft limit on open files (RLIMIT_NOFILE) to the
// hard limit, so that a flood of connections meets the caps of the guarded
// listeners before the process runs out of descriptors, and returns the
// limits before and after. (Go itself raises it at start since 1.19;
// this makes the hub's own expectation explicit and visible in its log.)
func RaiseFileLimit() (before, after, hard uint64, err error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, 0, 0, err
	}
	before = r.Cur
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			return before, before, r.Max, err
		}
	}
	return before, r.Cur, r.Max, nil
}
