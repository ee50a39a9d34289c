package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/pgembed"
	"github.com/jackc/pgx/v5/pgxpool"
)

// localPostgres is where a machine's own PostgreSQL is looked for.
const localPostgres = "127.0.0.1:5432"

// database resolves the database URL: the configured one; else a server on
// localhost:5432; else an embedded PostgreSQL under the data dir. stop
// releases what was started (nothing for the first two).
func database(ctx context.Context, cfg Config, log *slog.Logger) (url string, stop func(), err error) {
	if cfg.DatabaseURL != "" {
		return cfg.DatabaseURL, func() {}, nil
	}
	if hub.PostgresAnswers(localPostgres, 500*time.Millisecond) {
		url = "postgres://postgres@" + localPostgres + "/communehub?sslmode=disable"
		log.Info("using the PostgreSQL server on localhost", "url", hub.RedactURL(url))
		return url, func() {}, nil
	}
	log.Info("no database configured and none on localhost:5432; starting an embedded PostgreSQL",
		"dir", filepath.Join(cfg.DataDir, "postgres"))
	srv, err := pgembed.Start(ctx, pgembed.Options{Dir: filepath.Join(cfg.DataDir, "postgres"), Logger: log})
	if err != nil {
		return "", nil, fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	url = srv.URL()
	log.Info("embedded PostgreSQL started", "url", hub.RedactURL(url))
	return withDatabase(url, "communehub"), func() {
		if err := srv.Stop(); err != nil {
			log.Warn("stopping embedded PostgreSQL", "err", err)
		}
	}, nil
}

// withDatabase replaces the database name of a postgres URL.
func withDatabase(url, name string) string {
	i := len("postgres://")
	for j := i; j < len(url); j++ {
		if url[j] == '/' {
			rest := ""
			for k := j + 1; k < len(url); k++ {
				if url[k] == '?' {
					rest = url[k:]
					break
				}
			}
			return url[:j+1] + name + rest
		}
	}
	return url + "/" + name
}

// openDatabase opens and migrates the pool, retrying with backoff while the
// server is not reachable (a hub may start before its database). report,
// when not nil, is told each failure and then the pool (for /readyz).
func openDatabase(ctx context.Context, url string, log *slog.Logger, report func(*pgxpool.Pool, error)) (*pgxpool.Pool, error) {
	if report == nil {
		report = func(*pgxpool.Pool, error) {}
	}
	backoff := 250 * time.Millisecond
	for {
		pool, err := hub.OpenPool(ctx, url, log, migrationSets()...)
		report(pool, err)
		if err == nil {
			return pool, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		log.Warn("database not ready; retrying", "url", hub.RedactURL(url), "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second) // the hub switches over this soon after the database answers
	}
}
