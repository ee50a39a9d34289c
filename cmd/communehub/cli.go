package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/communehub/communehub/hub"
	"github.com/jackc/pgx/v5/pgxpool"
)

// extraCommands are subcommands added by features (import, minutes, devices…),
// each taking the rest of the arguments.
var extraCommands = map[string]func(ctx context.Context, cfg Config, log *slog.Logger, args []string, stdin io.Reader, stdout io.Writer) error{
	"minutes": runMinutes,
	"devices": runDevices,
	"import":  runImport,
}

func extraCommandNames() string {
	names := make([]string, 0, len(extraCommands))
	for n := range extraCommands {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return ""
	}
	return ", " + strings.Join(names, ", ")
}

// withPool opens the database (local, configured or embedded) for a CLI command.
func withPool(ctx context.Context, cfg Config, log *slog.Logger, f func(*pgxpool.Pool) error) error {
	url, stop, err := database(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer stop()
	pool, err := hub.OpenPool(ctx, url, log, migrationSets()...)
	if err != nil {
		return err
	}
	defer pool.Close()
	return f(pool)
}

func runMigrate(ctx context.Context, cfg Config, log *slog.Logger) error {
	return withPool(ctx, cfg, log, func(pool *pgxpool.Pool) error {
		if err := hub.SeedUnits(ctx, pool); err != nil {
			return err
		}
		log.Info("migrations applied")
		return nil
	})
}

const usersUsage = `usage: communehub users add NAME --role admin|officer|technician|viewer   (password on stdin)
       communehub users passwd NAME     (new password on stdin; ends NAME's sessions)
       communehub users disable NAME    (NAME cannot log in; ends NAME's sessions)
       communehub users enable NAME`

func runUsers(ctx context.Context, cfg Config, log *slog.Logger, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) < 2 {
		return &usageError{usersUsage}
	}
	cmd, name := args[0], args[1]
	if cmd != "add" && len(args) != 2 {
		return &usageError{usersUsage}
	}
	auth := func(pool *pgxpool.Pool) *hub.Auth { return hub.NewAuth(pool, hub.AuthConfig{}, log) }
	switch cmd {
	case "add":
		fs := flag.NewFlagSet("users add", flag.ContinueOnError)
		role := fs.String("role", "", "admin, officer, technician or viewer")
		if err := fs.Parse(args[2:]); err != nil {
			return &usageError{err.Error()}
		}
		r, err := hub.ParseRole(*role)
		if err != nil {
			return &usageError{"--role: " + err.Error()}
		}
		password, err := readPassword(stdin)
		if err != nil {
			return err
		}
		return withPool(ctx, cfg, log, func(pool *pgxpool.Pool) error {
			id, err := auth(pool).CreateUser(ctx, name, r, password)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "user %s (id %d) added with role %s\n", name, id, r)
			return nil
		})
	case "passwd":
		password, err := readPassword(stdin)
		if err != nil {
			return err
		}
		return withPool(ctx, cfg, log, func(pool *pgxpool.Pool) error {
			if err := auth(pool).SetPassword(ctx, name, password); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "password of %s changed; their sessions ended\n", name)
			return nil
		})
	case "disable", "enable":
		return withPool(ctx, cfg, log, func(pool *pgxpool.Pool) error {
			if err := auth(pool).SetDisabled(ctx, name, cmd == "disable"); err != nil {
				return err
			}
			if cmd == "disable" {
				fmt.Fprintf(stdout, "user %s disabled; their sessions ended (API tokens are separate: tokens revoke ID)\n", name)
			} else {
				fmt.Fprintf(stdout, "user %s enabled\n", name)
			}
			return nil
		})
	}
	return &usageError{"unknown users command " + strconv.Quote(cmd) + "\n" + usersUsage}
}

// readPassword reads a password, the first line of stdin.
func readPassword(stdin io.Reader) (string, error) {
	if stdin == nil {
		return "", &usageError{"the password is read from stdin, which is empty"}
	}
	password, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	return strings.TrimRight(password, "\r\n"), nil
}

func runTokens(ctx context.Context, cfg Config, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return &usageError{"usage: communehub tokens create --name NAME --role ROLE [--secret HMAC_SECRET] | tokens revoke ID"}
	}
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("tokens create", flag.ContinueOnError)
		name := fs.String("name", "", "what the token is for")
		role := fs.String("role", "", "admin, officer, technician or viewer")
		secret := fs.String("secret", "", "shared secret: every request must carry X-Timestamp and X-Signature (docs/api.md, \"Signed requests\")")
		if err := fs.Parse(args[1:]); err != nil {
			return &usageError{err.Error()}
		}
		r, err := hub.ParseRole(*role)
		if err != nil {
			return &usageError{"--role: " + err.Error()}
		}
		return withPool(ctx, cfg, log, func(pool *pgxpool.Pool) error {
			id, token, err := hub.NewAuth(pool, hub.AuthConfig{}, log).CreateToken(ctx, *name, r, *secret)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "token %d (%s, role %s) — shown once, store it now:\n%s\n", id, *name, r, token)
			return nil
		})
	case "revoke":
		if len(args) != 2 {
			return &usageError{"usage: communehub tokens revoke ID"}
		}
		id, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil {
			return &usageError{"token id must be a number"}
		}
		return withPool(ctx, cfg, log, func(pool *pgxpool.Pool) error {
			return hub.NewAuth(pool, hub.AuthConfig{}, log).RevokeToken(ctx, id)
		})
	}
	return &usageError{"unknown tokens command " + strconv.Quote(args[0])}
}
