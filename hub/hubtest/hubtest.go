package hubtest

import (
	"net"
	"os"
	"strconv"
	"testing"
	"time"
)

// skipOrFatal skips the test with msg, or fails it when CI=true: in CI a
// missing service is a broken runner, not a reason to pass.
func skipOrFatal(t testing.TB, msg string) {
	t.Helper()
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("%s (CI=true: missing infrastructure is a failure)", msg)
	}
	t.Skip(msg)
}

// answers reports whether something accepts TCP connections at addr.
func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another
// process may take it before the caller binds it; prefer listening on ":0"
// when the code under test allows it.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("hubtest: find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// WaitFor polls cond, quickly at first then every 50 ms, until it returns
// true, and fails the test with msg ("what was awaited") when timeout passes
// first. Call it from the test's goroutine, as any Fatal.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("hubtest: timed out after %v waiting for %s", timeout, msg)
			return
		}
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
}
