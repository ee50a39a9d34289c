package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/communehub/communehub/devices"
	"github.com/communehub/communehub/devices/devicesim"
	"github.com/communehub/communehub/displays"
	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/backlog"
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
	dbURL, stopDB, err := database(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer stopDB()
	pool, err := openDatabase(ctx, dbURL, log)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := hub.SeedUnits(ctx, pool); err != nil {
		return fmt.Errorf("seed administrative units: %w", err)
	}

	metrics := hub.NewMetrics()
	bus := hub.NewBus(hub.BusOptions{Logger: log, Metrics: metrics})
	auth := hub.NewAuth(pool, hub.AuthConfig{SessionTTL: cfg.SessionTTL, SecureCookie: cfg.SecureCookie}, log)
	ready := hub.NewReadiness()
	ready.Add("database", func(ctx context.Context) error { return pool.Ping(ctx) })
	sockets := hub.NewSockets()
	core := &hub.Core{
		Pool: pool, Bus: bus, Auth: auth, Units: hub.NewUnits(pool), Metrics: metrics,
		Sockets: sockets, Ready: ready, Logger: log, Origins: cfg.OriginList(), Secure: cfg.SecureCookie,
	}
	app := hub.NewApp(hub.AppOptions{Logger: log, Metrics: metrics})
	api := core.Mount(app)
	_ = api

	// Background workers: each runs until workCtx ends; wg waits for them.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var wg sync.WaitGroup
	spawn := func(name string, f func(context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(workCtx)
			log.Debug("worker stopped", "worker", name)
		}()
	}
	follower := hub.NewOutboxFollower(pool, bus, log, metrics)
	spawn("outbox", follower.Run)

	// Features: each mounts its routes on api/app and registers its workers.

	kindIntervals, _ := devices.ParseKindIntervals(cfg.DeviceKindIntervals) // validated with the config
	devSvc := devices.New(devices.Config{
		URL: cfg.MQTTURL, Listen: cfg.MQTTListen, ClientID: cfg.MQTTClientID,
		TelegrafPrefix: cfg.MQTTTelegrafPrefix, SharedGroup: cfg.MQTTSharedGroup, AllowAnonymous: cfg.Demo,
		Interval: cfg.DeviceInterval, KindIntervals: kindIntervals, RawRetention: cfg.TelemetryRetention, HourlyRetention: cfg.RollupRetention,
	}, devices.Deps{Pool: pool, Bus: bus, Registry: metrics.Registry, Logger: log.With("component", "devices")})
	if err := devSvc.Start(ctx); err != nil {
		return err
	}
	devSvc.Mount(api, app, auth.Middleware())
	ready.Add("mqtt", devSvc.ReadyMQTT)
	ready.Add("ingest", devSvc.ReadyIngest)
	spawn("devices", devSvc.Run)
	if cfg.Demo {
		sim := devicesim.New(devicesim.Config{Broker: devSvc.BrokerAddr(), Communes: []string{demoCommune, demoCommune2},
			Scenario: true, Logger: log.With("component", "devicesim")})
		spawn("devicesim", func(ctx context.Context) { _ = sim.Run(ctx) })
	}

	dueSoon, _ := strconv.Atoi(cfg.BacklogDueSoonDays) // validated by ParseConfig
	bl, err := backlog.New(ctx, pool, backlog.Config{DueSoonDays: dueSoon}, log.With("component", "backlog"),
		backlog.Options{Registerer: metrics.Registry})
	if err != nil {
		return err
	}
	bl.Mount(core, api, app)
	spawn("backlog-deadlines", backlog.NewScheduler(bl).Run)
	if cfg.Demo {
		if err := seedBacklogDemo(ctx, bl, log); err != nil {
			return fmt.Errorf("backlog demo seed: %w", err)
		}
		communes := bl.DemoCommunes(demoProvince, []string{demoCommune, demoCommune2}, 3)
		spawn("backlog-sim", bl.NewSimulator(communes, 8*time.Second).Run)
	}

	proc, err := meetings.NewProceedings(ctx, proceedingsConfig(cfg), pool, bus, core.Units, metrics, log.With("component", "meetings"))
	if err != nil {
		return err
	}
	proc.Mount(app, api, core)
	// Meeting topics on /ws follow the REST API's rule (who may see the
	// meeting); open sockets ask again when access ends.
	proc.GuardTopics(&core.Guards)
	spawn("topic-guards", func(ctx context.Context) {
		if err := core.Guards.InvalidateOn(ctx, bus, "meeting/+/access"); err != nil {
			log.Error("topic guards stopped following access changes", "err", err)
		}
	})
	spawn("meetings", func(ctx context.Context) { proc.RunSweeper(ctx, time.Second) })
	if cfg.Demo {
		if err := seedMeetingsDemo(ctx, proc, auth, log, stdout); err != nil {
			return fmt.Errorf("meetings demo seed: %w", err)
		}
	}

	// Meetings media (issue 6): the SFU, /ws/meetings/{id}, the meeting page
	// /meetings/{id} and /api/v1/meetings/{id}/stats.
	mediaCfg := mediaConfig(cfg)
	if host, _, err := net.SplitHostPort(cfg.Addr); err == nil && net.ParseIP(host).IsLoopback() {
		// A hub serving only this machine (tests, a local demo) needs no
		// fixed firewall port: media on loopback, ephemeral, no ICE-TCP.
		mediaCfg.ListenIP, mediaCfg.UDPPort, mediaCfg.TCPPort, mediaCfg.Loopback = host, 0, 0, true
	}
	media, err := meetings.NewMedia(ctx, mediaCfg, proc, pool, bus, sockets, log.With("component", "media"))
	if err != nil {
		return err
	}
	defer media.Close()
	media.Mount(app, api, core)
	spawn("media", media.Run)

	stale, _ := displays.ParseStale(cfg.DisplayStale) // validated with the config
	walls := displays.New(displays.Options{
		Pool: pool, Bus: bus, Auth: auth, Units: core.Units, Sockets: sockets, Metrics: metrics,
		Logger: log, Origins: cfg.OriginList(), Instance: cfg.InstanceID, Stale: stale,
	})
	walls.Mount(app, api)
	spawn("displays", walls.Run)
	spawn("displays-status", walls.RunStatus)
	spawn("displays-schedule", func(ctx context.Context) { walls.RunSchedule(ctx, 0) })
	if cfg.Demo {
		if err := seedDisplaysDemo(ctx, cfg, walls, stdout); err != nil {
			return fmt.Errorf("displays demo seed: %w", err)
		}
	}

	if cfg.Demo {
		if err := seedDemo(ctx, auth, log, stdout); err != nil {
			return fmt.Errorf("demo seed: %w", err)
		}
	}

	if cfg.appHook != nil {
		cfg.appHook(app)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (COMMUNEHUB_ADDR): %w", cfg.Addr, err)
	}
	if tlsCfg != nil {
		ln = newHTTPSListener(ln, tlsCfg)
	}
	log.Info("communehub listening", "addr", ln.Addr().String(), "https", tlsCfg != nil, "instance", cfg.InstanceID, "demo", cfg.Demo)
	serveErr := make(chan error, 1)
	go func() { serveErr <- app.Listener(ln) }()

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
	}
	log.Info("shutting down")
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		sockets.CloseAll(hub.CloseGoingAway, "hub shutting down", 3*time.Second)
	}()
	if err := app.ShutdownWithTimeout(5 * time.Second); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("http shutdown", "err", err)
	}
	<-done
	stopWork()
	wg.Wait()
	log.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
	return nil
}
