package hubtest

import (
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
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
	c, err := net.DialTimeout("tcp", addr, Timeout(time.Second))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago,
// chosen at random below the kernel's ephemeral range. An ephemeral port
// can be taken, between the check and the caller's bind, by any outgoing
// connection on the machine (a parallel test's database or broker client
// picks its local port there): a hub test once failed to bind its HTTP
// address that way. Below the range only another test's server can take
// it, and with a random pick from some 20,000 ports that is rare. Prefer
// listening on ":0" when the code under test allows it.
func FreePort(t testing.TB) int {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 12000 {
				low = n
			}
		}
	}
	for range 200 {
		port := 10000 + rand.IntN(low-10000)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatalf("hubtest: no free port between 10000 and %d", low)
	return 0
}

// StablePort is FreePort for a server a test stops and starts again on the
// same port: being outside the ephemeral range, the port stays free while
// the server is down, whatever connects meanwhile.
func StablePort(t testing.TB) int {
	t.Helper()
	return FreePort(t)
}

// WaitFor polls cond, quickly at first then every 50 ms, until it returns
// true, and fails the test with msg ("what was awaited") when timeout
// (scaled by Timeout) passes first. Call it from the test's goroutine, as
// any Fatal.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool, msg string) {
	t.Helper()
	timeout = Timeout(timeout)
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("hubtest: timed out after %v waiting for %s", timeout, msg)
			return
		}
		time.Sleep(wait) // sleep: the polling interval
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// Stacks returns the stacks of the goroutines whose stack mentions any of
// the given strings (all of them with none), to show where a test's
// subject is stuck.
func Stacks(mention ...string) string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if len(mention) == 0 || slices.ContainsFunc(mention, func(m string) bool { return strings.Contains(g, m) }) {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
