//go:build !unix

package pgembed

import "os"

// lockFile only opens path: without flock, two processes sharing a Dir are
// not detected.
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
