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

func runUsers(ctx context.Context, cfg Config, log *slog.Logger, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) < 2 || args[0] != "add" {
		return &usageError{"usage: communehub users add NAME --role admin|officer|technician|viewer (password on stdin)"}
	}
	name := args[1]
	fs := flag.NewFlagSet("users add", flag.ContinueOnError)
	role := fs.String("role", "", "admin, officer, technician or viewer")
	if err := fs.Parse(args[2:]); err != nil {
		return &usageError{err.Error()}
	}
	r, err := hub.ParseRole(*role)
	if err != nil {
		return &usageError{"--role: " + err.Error()}
	}
	password, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password from stdin: %w", err)
	}
	password = strings.TrimRight(password, "\r\n")
	return withPool(ctx, cfg, log, func(pool *pgxpool.Pool) error {
		id, err := hub.NewAuth(pool, hub.AuthConfig{}, log).CreateUser(ctx, name, r, password)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s (id %d) added with role %s\n", name, id, r)
		return nil
	})
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
		secret := fs.String("secret", "", "shared secret: requests must carry X-Signature: sha256=<HMAC of body>")
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
