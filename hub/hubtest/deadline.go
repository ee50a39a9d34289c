package hubtest

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

// Timeout is the one place a test deadline comes from: d, scaled by
// COMMUNEHUB_TEST_TIMEOUT_FACTOR. Every wait for a condition, context
// deadline or read deadline in a test should pass through it, so that a
// busy machine needs one setting, not edits to every test. A deadline is a
// bound on failure, never a pause: wait by polling (WaitFor), not by
// sleeping.
func Timeout(d time.Duration) time.Duration {
	return time.Duration(float64(d) * factor())
}
