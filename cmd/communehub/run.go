package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/communehub/communehub/alerts"
	"github.com/communehub/communehub/backlog"
	"github.com/communehub/communehub/devices"
	"github.com/communehub/communehub/displays"
	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/meetings"
)

// migrationSets lists every component's migrations, kernel first.
func migrationSets() []hub.MigrationSet {
	return []hub.MigrationSet{
		hub.Migrations,
		// Feature migration sets, in dependency order:
		meetings.Migrations,
		devices.Migrations,
		backlog.Migrations,
		displays.Migrations,
		alerts.Migrations,
	}
}

// Run wires the hub by hand and serves until ctx is done, then shuts down
// in order: stop accepting, close websockets with 1001, flush queued
// writes, close the pool.
func Run(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) error {
	// 0711: others may traverse (an embedded PostgreSQL runs as the postgres
	// user under it) but not list; secrets inside have their own 0600 modes.
	if err := os.MkdirAll(cfg.DataDir, 0o711); err != nil {
		return fmt.Errorf("data dir %s: %w", cfg.DataDir, err)
	}
	tlsCfg, err := serverTLS(cfg, log, time.Now())
	if err != nil {
		return err
	}
	if tlsCfg != nil {
		cfg.SecureCookie = true // a session cookie of an https hub never travels over http
	}

	// HTTP first, so that monitoring sees the hub (and what it waits for)
	// while the database does not answer; the wired app replaces the
	// stand-in below. ctx also ends if a server stops on its own.
	metrics := hub.NewMetrics()
	ready := hub.NewReadiness()
	var dbUp dbCheck
	ready.Add("database", dbUp.check)
	logFileLimit(log)
	applyMemoryLimit(cfg, log)
	appOpts := hub.AppOptions{Logger: log, Metrics: metrics, Limits: cfg.httpLimits()}
	ctx, web, err := startWeb(ctx, cfg, tlsCfg, hub.Ops{Ready: ready, Metrics: metrics, Token: cfg.MetricsToken}, appOpts, &dbUp, log)
	if err != nil {
		return err
	}
	defer web.shutdown(5 * time.Second)
	dbURL, stopDB, err := database(ctx, cfg, log)
	if err != nil {
		return stoppedOr(ctx, err)
	}
	defer stopDB()
	pool, err := openDatabase(ctx, dbURL, log, dbUp.set)
	if err != nil {
		return stoppedOr(ctx, err)
	}
	defer pool.Close()
	if err := hub.SeedUnits(ctx, pool); err != nil {
		return fmt.Errorf("seed administrative units: %w", err)
	}

	auth := hub.NewAuth(pool, hub.AuthConfig{SessionTTL: cfg.SessionTTL, SecureCookie: cfg.SecureCookie, Throttle: cfg.throttle()}, log)
	sockets := hub.NewSockets()
	core := &hub.Core{
		Pool: pool, Auth: auth, Units: hub.NewUnits(pool), Metrics: metrics,
		Sockets: sockets, Ready: ready, Logger: log, Origins: cfg.Origins, Secure: cfg.SecureCookie,
		MetricsToken: cfg.MetricsToken, MetricsElsewhere: cfg.MetricsAddr != "", Instance: cfg.InstanceID,
	}
	// Every feature declares the topic families it publishes (who may
	// read them, what a public screen may see) before it runs; the bus
	// counts anything published outside them.
	topics := hub.NewTopics(&core.Guards)
	bus := hub.NewBus(hub.BusOptions{Logger: log, Metrics: metrics, Topics: topics})
	core.Topics, core.Bus = topics, bus
	app := hub.NewApp(appOpts)
	api := core.Mount(app)
	routes := core.Routes(app, api)

	// Background workers: each runs until workCtx ends; wg waits for them.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var wg sync.WaitGroup
	spawn := func(name string, run func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// An error is a worker that gave up, unless it only says
			// that it was stopped.
			if err := run(workCtx); err != nil && !(workCtx.Err() != nil && errors.Is(err, context.Canceled)) {
				log.Error("worker stopped early", "worker", name, "err", err)
				return
			}
			log.Debug("worker stopped", "worker", name)
		}()
	}
	follower := hub.NewOutboxFollower(pool, bus, log, metrics)
	spawn("outbox", func(ctx context.Context) error { follower.Run(ctx); return nil })
	spawn("outbox-prune", func(ctx context.Context) error {
		hub.RunOutboxPruner(ctx, pool, cfg.OutboxRetention, log.With("component", "outbox"), metrics)
		return nil
	})

	f, err := newFeatures(ctx, cfg, core, routes)
	if err != nil {
		return err
	}
	defer f.media.Close() // after the workers have stopped
	for _, w := range f.workers() {
		spawn(w.name, w.run)
	}
	if cfg.Demo {
		if err := startDemo(ctx, cfg, f, auth, spawn, log, stdout); err != nil {
			return err
		}
	}

	if cfg.appHook != nil {
		cfg.appHook(app)
	}
	web.switchTo(app)

	<-ctx.Done()
	if err := context.Cause(ctx); !errors.Is(err, context.Canceled) {
		return err // a server stopped on its own
	}
	log.Info("shutting down")
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		sockets.CloseAll(hub.CloseGoingAway, "hub shutting down", 3*time.Second)
	}()
	web.shutdown(5 * time.Second)
	<-done
	stopWork()
	wg.Wait()
	log.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// stoppedOr returns nil when err is only the hub being stopped (SIGTERM
// while it waited for its database), else the error, or the serve error
// that ended ctx.
func stoppedOr(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	if cause := context.Cause(ctx); !errors.Is(cause, context.Canceled) {
		return cause
	}
	return nil
}

// logFileLimit raises the open-files limit to its hard limit and logs both:
// the number of connections the hub can hold at once depends on it.
func logFileLimit(log *slog.Logger) {
	before, soft, hard, err := hub.RaiseFileLimit()
	if err != nil {
		log.Warn("cannot raise the open-files limit", "soft", before, "hard", hard, "err", err)
		return
	}
	log.Info("open-files limit", "soft", soft, "hard", hard, "soft_at_start", before)
}

// mqttGuard is how the embedded broker's port is guarded: caps, accept
// retry, the listener metrics.
func mqttGuard(cfg Config, metrics *hub.Metrics, log *slog.Logger) hub.ListenOptions {
	return hub.ListenOptions{Name: "mqtt", MaxConns: cfg.MQTTMaxConns, MaxPerIP: cfg.MQTTMaxConnsPerIP, Metrics: metrics.Conns, Logger: log.With("component", "mqtt-broker")}
}
