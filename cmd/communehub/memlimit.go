package main

import (
	"log/slog"
	"runtime/debug"
	"strings"
)

// parseMemoryLimit reads COMMUNEHUB_MEMORY_LIMIT: "0" (none) or a size
// from 32MiB to 1TiB.
func parseMemoryLimit(s string) (int64, error) {
	if strings.TrimSpace(s) == "0" {
		return 0, nil
	}
	return parseSizeBetween(s, 32<<20, 1<<40, [2]string{"32MiB", "1TiB"})
}

// applyMemoryLimit sets the runtime's soft memory limit from the setting.
// A hub that is the broker for thousands of devices holds two goroutines
// per connection whose stacks grow on each message and shrink only at a
// collection: with the limit, collections come often enough to give that
// memory back (docs/benchmarks.md, "5,000 devices"). Without the setting,
// GOMEMLIMIT (the runtime's own variable) still applies.
func applyMemoryLimit(cfg Config, log *slog.Logger) {
	if n := cfg.MemoryLimit; n > 0 {
		debug.SetMemoryLimit(n)
		log.Info("memory limit", "bytes", n, "setting", "COMMUNEHUB_MEMORY_LIMIT")
	}
}
