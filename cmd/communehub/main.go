// Command communehub runs the CommuneHub server and its admin subcommands.
//
//	communehub [flags] [serve]                       run the hub (default)
//	communehub [flags] migrate                       apply database migrations and exit
//	communehub [flags] users add NAME --role ROLE    add a user; password from stdin
//	communehub [flags] users passwd NAME             set a new password (stdin); ends their sessions
//	communehub [flags] users disable|enable NAME     a disabled user cannot log in; their sessions end
//	communehub [flags] tokens create --name N --role R [--secret S]   print a new API token once
//	communehub [flags] tokens revoke ID
//	communehub [flags] import dossiers FILE [--atomic] [--format csv|jsonl]   import a portal export; exit 1 if a row is rejected
//
// Every flag also has a COMMUNEHUB_* environment variable; see --help.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Main parses configuration and runs a subcommand; it returns the exit code:
// 0 success, 1 failure, 2 bad configuration or usage.
func Main(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, rest, err := ParseConfig(args, getenv)
	if err != nil {
		if errors.Is(err, errHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "communehub:", err)
		return 2
	}
	log := newLogger(cfg, stderr)
	cmd := "serve"
	if len(rest) > 0 {
		cmd, rest = rest[0], rest[1:]
	}
	switch cmd {
	case "serve":
		err = Run(ctx, cfg, log, stdout)
	case "migrate":
		err = runMigrate(ctx, cfg, log)
	case "users":
		err = runUsers(ctx, cfg, log, rest, stdin, stdout)
	case "tokens":
		err = runTokens(ctx, cfg, log, rest, stdout)
	default:
		if sub, ok := extraCommands[cmd]; ok {
			err = sub(ctx, cfg, log, rest, stdin, stdout)
			break
		}
		fmt.Fprintf(stderr, "communehub: unknown command %q (serve, migrate, users, tokens%s)\n", cmd, extraCommandNames())
		return 2
	}
	var ue *usageError
	var ce *ConfigError // a setting found bad only when used (a certificate file)
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue), errors.As(err, &ce):
		fmt.Fprintln(stderr, "communehub:", err)
		return 2
	default:
		log.Error("communehub failed", "err", err)
		return 1
	}
}

// usageError is a wrong subcommand invocation (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
