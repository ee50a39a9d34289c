package main

import (
	"io"
	"log/slog"
	"runtime/debug"
	"testing"
)

// COMMUNEHUB_MEMORY_LIMIT reaches the runtime; 0 leaves its limit alone.
func TestMemoryLimitSetting(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	cfg, _, err := ParseConfig(nil, env(map[string]string{"COMMUNEHUB_MEMORY_LIMIT": "0"}))
	if err != nil {
		t.Fatal(err)
	}
	applyMemoryLimit(cfg, log)
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("limit 0 changed the runtime's limit: %d, was %d", got, before)
	}

	cfg, _, err = ParseConfig([]string{"--memory-limit", "160MiB"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	applyMemoryLimit(cfg, log)
	if got := debug.SetMemoryLimit(-1); got != 160<<20 {
		t.Errorf("runtime limit %d, want %d", got, 160<<20)
	}
	if DefaultConfig().MemoryLimit != 0 {
		t.Errorf("default %d, want 0 (none)", DefaultConfig().MemoryLimit)
	}
}
