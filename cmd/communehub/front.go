package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/communehub/communehub/hub"
)

// webFront is the hub's HTTP side. It opens first, before the database is
// reached, so /healthz and /readyz answer from the start: until the app is
// wired (switchTo) the main port serves the stand-in (hub.MountUnavailable).
// With --metrics-addr the operations endpoints also get a port of their own.
type webFront struct {
	front   *hub.Front
	standIn *fiber.App
	ops     *fiber.App // nil without --metrics-addr
	started atomic.Bool
	log     *slog.Logger
	stop    sync.Once
	lns     []net.Listener
	serving sync.WaitGroup // the serve goroutines
}

// startWeb listens on the main (and operations) address and serves. The
// returned context ends with ctx or, with the serve error as its cause,
// when a server stops on its own.
func startWeb(ctx context.Context, cfg Config, tlsCfg *tls.Config, ops hub.Ops, appOpts hub.AppOptions, db *dbCheck, log *slog.Logger) (context.Context, *webFront, error) {
	w := &webFront{log: log}
	mainOps := ops
	if cfg.MetricsAddr != "" {
		mainOps.Metrics = nil
	}
	w.standIn = hub.NewApp(appOpts)
	hub.MountUnavailable(w.standIn, mainOps, func() string {
		if db.open() {
			return "" // only starting
		}
		return "database"
	})
	w.front = hub.NewFront(w.standIn)
	ops.Ready.Add("startup", func(context.Context) error {
		if !w.started.Load() {
			return errors.New("the hub is starting")
		}
		return nil
	})

	// Guarded listeners: an accept that fails (out of file descriptors)
	// is retried, never the end of serving; connections over the caps
	// are closed at accept and counted.
	ln, err := hub.Listen(cfg.Addr, hub.ListenOptions{Name: "http", MaxConns: cfg.HTTPMaxConns, MaxPerIP: cfg.HTTPMaxConnsPerIP, Metrics: ops.Metrics.Conns, Logger: log})
	if err != nil {
		return ctx, nil, fmt.Errorf("listen on %s (COMMUNEHUB_ADDR): %w", cfg.Addr, err)
	}
	if tlsCfg != nil {
		ln = newHTTPSListener(ln, tlsCfg)
	}
	var opsLn net.Listener
	if cfg.MetricsAddr != "" {
		if opsLn, err = hub.Listen(cfg.MetricsAddr, hub.ListenOptions{Name: "operations", Metrics: ops.Metrics.Conns, Logger: log}); err != nil {
			ln.Close()
			return ctx, nil, fmt.Errorf("listen on %s (COMMUNEHUB_METRICS_ADDR): %w", cfg.MetricsAddr, err)
		}
		w.ops = hub.NewApp(hub.AppOptions{Logger: log, Limits: appOpts.Limits})
		ops.Mount(w.ops)
	}

	ctx, fail := context.WithCancelCause(ctx)
	serve := func(what string, app *fiber.App, ln net.Listener) {
		w.lns = append(w.lns, ln)
		w.serving.Add(1)
		go func() {
			defer w.serving.Done()
			if err := app.Listener(ln); err != nil {
				fail(fmt.Errorf("serve %s: %w", what, err))
			}
		}()
	}
	log.Info("communehub listening", "addr", ln.Addr().String(), "https", tlsCfg != nil, "instance", cfg.InstanceID, "demo", cfg.Demo)
	serve("http", w.standIn, ln)
	if opsLn != nil {
		log.Info("operations endpoints listening", "addr", opsLn.Addr().String(), "paths", "/metrics /healthz /readyz")
		serve("operations", w.ops, opsLn)
	}
	return ctx, w, nil
}

// switchTo serves the wired app from the next request on.
func (w *webFront) switchTo(app *fiber.App) {
	w.front.Switch(app)
	w.started.Store(true)
	w.log.Info("communehub ready")
}

// shutdown stops accepting, waits up to timeout for requests in flight and
// for the serve goroutines to return; it is safe to call more than once.
func (w *webFront) shutdown(timeout time.Duration) {
	w.stop.Do(func() {
		if err := w.standIn.ShutdownWithTimeout(timeout); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			w.log.Warn("http shutdown", "err", err)
		}
		if w.ops != nil {
			_ = w.ops.ShutdownWithTimeout(timeout)
		}
		// A server told to shut down before it began serving would
		// still begin: closing its listener ends that too.
		for _, ln := range w.lns {
			_ = ln.Close()
		}
		w.serving.Wait()
	})
}

// dbCheck is the "database" readiness check, from before the pool exists:
// until then it reports why the database cannot be reached.
type dbCheck struct {
	mu   sync.Mutex
	pool *pgxpool.Pool
	err  error
}

func (d *dbCheck) set(pool *pgxpool.Pool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pool, d.err = pool, err
}

func (d *dbCheck) open() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pool != nil
}

func (d *dbCheck) check(ctx context.Context) error {
	d.mu.Lock()
	pool, err := d.pool, d.err
	d.mu.Unlock()
	if pool != nil {
		return pool.Ping(ctx)
	}
	if err == nil {
		err = errors.New("connecting")
	}
	return fmt.Errorf("unreachable: %w", err)
}
