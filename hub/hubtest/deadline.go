package hubtest

import (
	"testing"
	"time"

	"github.com/communehub/communehub/hub/hubtest/deadline"
)

// FactorEnv names the environment variable that stretches every test
// deadline: COMMUNEHUB_TEST_TIMEOUT_FACTOR=3 gives each wait three times
// as long, for a loaded or slow machine. Unset, empty or invalid means 1.
const FactorEnv = deadline.FactorEnv

// Timeout is the one place a test deadline comes from: d, scaled by
// COMMUNEHUB_TEST_TIMEOUT_FACTOR (it is deadline.Timeout, which tests that
// cannot import hubtest use). Every wait for a condition, context deadline
// or read deadline in a test should pass through it, so that a busy machine
// needs one setting, not edits to every test. A deadline is a bound on
// failure, never a pause: wait by polling (WaitFor), not by sleeping.
func Timeout(d time.Duration) time.Duration { return deadline.Timeout(d) }

// SkipShort skips the test under go test -short, the quick subset: what
// takes long or needs more than PostgreSQL and a broker (a browser, the
// real binary, a server restart, a long media or load run). Chromium and
// Build call it, so browser and real-binary tests need not.
func SkipShort(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip(what + ": skipped with -short")
	}
}
