package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Durations are logged as readable strings in both formats, including in
// groups and in loggers derived with With, not as integer nanoseconds.
func TestLogDurationsReadable(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		log := newLogger(Config{LogFormat: format, LogLevel: slog.LevelInfo}, &buf)
		log.With("setup", 1500*time.Microsecond).Info("done", "took", 5255*time.Millisecond+12345,
			slog.Group("db", "wait", 1234567*time.Nanosecond), "tiny", 850*time.Nanosecond, "count", 3)
		out := buf.String()
		if strings.Contains(out, "5255") {
			t.Errorf("%s: raw nanoseconds in %s", format, out)
		}
		if format == "text" {
			for _, want := range []string{"took=5.255s", "db.wait=1.235ms", "setup=1.5ms", "tiny=850ns", "count=3"} {
				if !strings.Contains(out, want) {
					t.Errorf("text lacks %s: %s", want, out)
				}
			}
			continue
		}
		var m struct {
			Took  any            `json:"took"`
			Setup any            `json:"setup"`
			Tiny  any            `json:"tiny"`
			Count any            `json:"count"`
			DB    map[string]any `json:"db"`
		}
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if m.Took != "5.255s" || m.DB["wait"] != "1.235ms" || m.Setup != "1.5ms" || m.Tiny != "850ns" || m.Count != float64(3) {
			t.Errorf("json: took=%v db.wait=%v setup=%v tiny=%v count=%v (%s)", m.Took, m.DB["wait"], m.Setup, m.Tiny, m.Count, out)
		}
	}
}
