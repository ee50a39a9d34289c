// Package deadline is where every test deadline comes from: a duration
// scaled by COMMUNEHUB_TEST_TIMEOUT_FACTOR. hubtest.Timeout is the same
// function; this leaf package, which imports only the standard library,
// exists for the tests hubtest cannot reach without an import cycle (hub's
// and hub/pgembed's internal tests) and for helper packages that should not
// pull in hubtest (meetings/sfu/sfutest, also used by cmd/meetbench).
package deadline

import (
	"os"
	"strconv"
	"sync"
	"time"
)

// FactorEnv names the environment variable that stretches every test
// deadline: COMMUNEHUB_TEST_TIMEOUT_FACTOR=3 gives each wait three times
// as long, for a loaded or slow machine. Unset, empty or invalid means 1.
const FactorEnv = "COMMUNEHUB_TEST_TIMEOUT_FACTOR"

var factor = sync.OnceValue(func() float64 { return parseFactor(os.Getenv(FactorEnv)) })

// parseFactor reads the factor's value; a deadline is never shortened.
func parseFactor(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f >= 1) || f > 1000 {
		return 1
	}
	return f
}

// Factor is the factor Timeout scales by.
func Factor() float64 { return factor() }

// Timeout is d scaled by COMMUNEHUB_TEST_TIMEOUT_FACTOR. Every wait for a
// condition, context deadline or read deadline in a test passes through it,
// so that a busy machine needs one setting, not edits to every test. A
// deadline is a bound on failure, never a pause: wait by polling, not by
// sleeping. hub's TestDeadlinesScale checks that tests keep to this.
func Timeout(d time.Duration) time.Duration {
	return time.Duration(float64(d) * factor())
}
