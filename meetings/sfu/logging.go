package sfu

import (
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLoggerFactory routes Pion's warnings and errors to slog at debug
// level: Pion logs every failed write of a closing connection, which is
// normal churn for an SFU, not an operator's concern.
type pionLoggerFactory struct{ log *slog.Logger }

func (f pionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (pionLogger) Trace(string)          {}
func (pionLogger) Tracef(string, ...any) {}
func (pionLogger) Debug(string)          {}
func (pionLogger) Debugf(string, ...any) {}
func (pionLogger) Info(string)           {}
func (pionLogger) Infof(string, ...any)  {}
func (l pionLogger) Warn(msg string)     { l.log.Debug(msg) }
func (l pionLogger) Warnf(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...))
}
func (l pionLogger) Error(msg string) { l.log.Debug(msg) }
func (l pionLogger) Errorf(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...))
}
