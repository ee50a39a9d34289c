package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/communehub/communehub/backlog"
	"github.com/communehub/communehub/hub"
	"github.com/jackc/pgx/v5/pgxpool"
)

// runImport is `communehub import dossiers FILE [--atomic] [--format csv|jsonl]`:
// it applies a portal export to the database directly (the running hubs
// publish the events through the outbox) and prints progress, then the
// per-row report. Any rejected row makes it fail (exit 1, "3 of 120 rows
// rejected"); a usage error is exit 2.
func runImport(ctx context.Context, cfg Config, log *slog.Logger, args []string, _ io.Reader, stdout io.Writer) error {
	usage := &usageError{"usage: communehub import dossiers FILE [--atomic] [--format csv|jsonl] [--json]"}
	if len(args) < 2 || args[0] != "dossiers" {
		return usage
	}
	fs := flag.NewFlagSet("import dossiers", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	atomic := fs.Bool("atomic", false, "commit nothing when any row is bad")
	format := fs.String("format", "", "csv or jsonl (default: from the file name, else sniffed)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	// Flags may come before or after FILE.
	var file string
	rest := args[1:]
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			return &usageError{"import dossiers: " + err.Error()}
		}
		rest = fs.Args()
		if len(rest) > 0 {
			if file != "" {
				return usage
			}
			file, rest = rest[0], rest[1:]
		}
	}
	if file == "" {
		return usage
	}
	if *format == "" {
		switch strings.ToLower(filepath.Ext(file)) {
		case ".csv":
			*format = "csv"
		case ".jsonl", ".ndjson", ".json":
			*format = "jsonl"
		}
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("import dossiers: %w", err)
	}
	defer f.Close()
	return withPool(ctx, cfg, log, func(pool *pgxpool.Pool) error {
		if err := hub.SeedUnits(ctx, pool); err != nil {
			return err
		}
		bl, err := backlog.New(backlog.Config{}, hub.Deps{Pool: pool, Logger: log})
		if err == nil {
			err = bl.Start(ctx)
		}
		if err != nil {
			return err
		}
		start := time.Now()
		last := time.Time{}
		progress := func(stage string, done, total int) {
			if time.Since(last) < 500*time.Millisecond && done != total {
				return
			}
			last = time.Now()
			if total > 0 {
				fmt.Fprintf(stdout, "\r%-8s %7d/%-7d rows  %5.1fs", stage, done, total, time.Since(start).Seconds())
			} else {
				fmt.Fprintf(stdout, "\r%-8s %7d rows          %5.1fs", stage, done, time.Since(start).Seconds())
			}
		}
		rep, err := bl.Import(ctx, f, backlog.ImportOptions{Format: *format, Atomic: *atomic, Actor: "cli", Source: "cli", Progress: progress})
		fmt.Fprintln(stdout)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(rep); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(stdout, "%d rows: %d created, %d updated, %d unchanged, %d rejected; committed: %v (%.1fs)\n",
				rep.Rows, rep.Created, rep.Updated, rep.Unchanged, rep.Rejected, rep.Committed, rep.Seconds)
			for _, e := range rep.Errors {
				fmt.Fprintf(stdout, "  row %d (line %d) %s: %s: %s\n", e.Row, e.Line, e.Code, e.Field, e.Reason)
			}
			if rep.ErrorsTruncated {
				fmt.Fprintf(stdout, "  … only the first %d errors are listed\n", len(rep.Errors))
			}
		}
		// A rejected row fails the command (exit 1), so a script notices;
		// the rows that were good stay committed unless --atomic was given.
		if !rep.Committed {
			return fmt.Errorf("nothing imported: %d of %d rows rejected and --atomic was given", rep.Rejected, rep.Rows)
		}
		if rep.Rejected > 0 {
			return fmt.Errorf("%d of %d rows rejected (the others are imported)", rep.Rejected, rep.Rows)
		}
		return nil
	})
}
