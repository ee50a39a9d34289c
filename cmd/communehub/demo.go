package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/communehub/communehub/backlog"
	"github.com/communehub/communehub/devices"
	"github.com/communehub/communehub/devices/devicesim"
	"github.com/communehub/communehub/hub"
)

// Demo scope: Điện Biên province and two of its communes.
const (
	demoProvince = "11"    // Tỉnh Điện Biên
	demoCommune  = "03244" // Xã Sáng Nhè
	demoCommune2 = "03199" // Xã Si Pa Phìn
)

// startDemo seeds the demo data of every feature and spawns the
// simulators (a commune LAN over MQTT, dossiers arriving): --demo.
func startDemo(ctx context.Context, cfg Config, f *features, auth *hub.Auth, spawn func(string, func(context.Context) error),
	log *slog.Logger, stdout io.Writer) error {
	printDemoBroker(cfg, f.devices, log, stdout)
	sim := devicesim.New(devicesim.Config{Broker: f.devices.BrokerAddr(), Communes: []string{demoCommune, demoCommune2},
		Scenario: true, Logger: log.With("component", "devicesim")})
	spawn("devicesim", sim.Run)
	if err := seedBacklogDemo(ctx, f.backlog, log); err != nil {
		return fmt.Errorf("backlog demo seed: %w", err)
	}
	communes := f.backlog.DemoCommunes(demoProvince, []string{demoCommune, demoCommune2}, 3)
	bsim := f.backlog.NewSimulator(communes, 8*time.Second)
	spawn("backlog-sim", func(ctx context.Context) error { bsim.Run(ctx); return nil })
	if err := seedMeetingsDemo(ctx, f.proc, auth, log, stdout); err != nil {
		return fmt.Errorf("meetings demo seed: %w", err)
	}
	if err := seedDisplaysDemo(ctx, cfg, f.walls, stdout); err != nil {
		return fmt.Errorf("displays demo seed: %w", err)
	}
	if err := seedDemo(ctx, auth, log, stdout); err != nil {
		return fmt.Errorf("demo seed: %w", err)
	}
	return nil
}

// printDemoBroker says which broker the demo's devices use, with a
// command that publishes to it.
func printDemoBroker(cfg Config, devSvc *devices.Service, log *slog.Logger, stdout io.Writer) {
	addr := devSvc.BrokerAddr()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, "1883"
	}
	switch {
	case devSvc.Mode() == "embedded" && cfg.mqttListen() == DemoBrokerListen:
		log.Info("demo: the embedded MQTT broker runs on a free port, not on 127.0.0.1:1883 (--mqtt-url or --mqtt-listen chooses another)",
			"addr", addr, "anonymous", true)
		fmt.Fprintf(stdout, "\nDemo MQTT broker (embedded, anonymous clients allowed): %s\n", addr)
	case devSvc.Mode() == "embedded":
		fmt.Fprintf(stdout, "\nDemo MQTT broker (embedded, anonymous clients allowed): %s\n", addr)
	default:
		fmt.Fprintf(stdout, "\nDemo MQTT broker (%s): %s\n", devSvc.Mode(), addr)
	}
	fmt.Fprintf(stdout, "  mosquitto_pub -h %s -p %s -q 1 -t communehub/%s/pc-test/telemetry -m '{\"metrics\":{\"latency_ms\":3}}'\n\n",
		host, port, demoCommune)
}

// seedDemo creates the demo admin (its password is printed once, on the run
// that creates it). Features seed their own demo data.
func seedDemo(ctx context.Context, auth *hub.Auth, log *slog.Logger, stdout io.Writer) error {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	password := base64.RawURLEncoding.EncodeToString(b)
	_, err := auth.CreateUser(ctx, "admin", hub.RoleAdmin, password)
	if hub.ErrorCode(err) == hub.EConflict {
		log.Info("demo admin already exists; its password was printed when it was created (reset: echo NEW-PASSWORD | communehub users passwd admin)")
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nDemo admin created — user: admin  password: %s  (shown once)\n\n", password)
	return nil
}

// seedBacklogDemo loads the procedure catalogue and a year to date of
// dossiers and documents for the demo communes (idempotent).
func seedBacklogDemo(ctx context.Context, bl *backlog.Service, log *slog.Logger) error {
	communes := bl.DemoCommunes(demoProvince, []string{demoCommune, demoCommune2}, 3)
	start := time.Now()
	if err := bl.SeedDemo(ctx, communes); err != nil {
		return err
	}
	log.Info("backlog demo data ready", "communes", communes, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
