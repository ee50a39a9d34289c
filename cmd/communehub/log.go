package main

import (
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/term"
)

// newLogger logs text on a terminal and JSON otherwise (or as configured).
// Durations are written as Go duration strings ("5.255s") in both formats:
// the JSON handler would write integer nanoseconds.
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel, ReplaceAttr: readableDuration}
	format := cfg.LogFormat
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// readableDuration is the handlers' ReplaceAttr: a time.Duration value, at
// any depth of groups, becomes its String form.
func readableDuration(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, roundDuration(a.Value.Duration()).String())
	}
	return a
}

// roundDuration drops digits below a thousandth of the unit shown, so
// 5.255012345s logs as 5.255s and 1.234567ms as 1.235ms.
func roundDuration(d time.Duration) time.Duration {
	switch a := max(d, -d); {
	case a >= time.Second:
		return d.Round(time.Millisecond)
	case a >= time.Millisecond:
		return d.Round(time.Microsecond)
	default:
		return d
	}
}
