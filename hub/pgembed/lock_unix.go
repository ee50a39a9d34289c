//go:build unix

package pgembed

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on path, held until the file is closed or
// the process dies, so a crashed owner never leaves it stuck. Go opens files
// close-on-exec, so the postmaster does not inherit the lock.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrInUse
		}
		return nil, err
	}
	return f, nil
}
