// Command devicesim simulates the office LANs of N communes over MQTT for
// CommuneHub demos and benchmarks (see devices/devicesim).
//
//	devicesim -broker 127.0.0.1:1883 -communes 03244,03199 -scenario
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/communehub/communehub/devices/devicesim"
)

func main() {
	broker := flag.String("broker", "127.0.0.1:1883", "MQTT broker host:port")
	user := flag.String("user", "", "MQTT username (a per-commune credential from `communehub devices credentials create`)")
	pass := flag.String("pass", "", "MQTT password")
	logins := flag.String("logins", "", "file of per-commune logins, one \"COMMUNE USERNAME PASSWORD\" per line")
	communes := flag.String("communes", "03244,03199", "comma-separated commune codes")
	pcs := flag.Int("pcs", 8, "PCs per commune (each LAN has 11 other devices)")
	interval := flag.Duration("interval", 10*time.Second, "telemetry interval per device")
	scenario := flag.Bool("scenario", true, "play outages: a switch failing, a power cut, a flapping access point")
	period := flag.Duration("period", 6*time.Minute, "length of one scenario loop")
	duration := flag.Duration("duration", 0, "stop after this long (0: until interrupted)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	var list []string
	for _, c := range strings.Split(*communes, ",") {
		if c = strings.TrimSpace(c); c != "" {
			list = append(list, c)
		}
	}
	perCommune := map[string][2]string{}
	if *logins != "" {
		b, err := os.ReadFile(*logins)
		if err != nil {
			fmt.Fprintln(os.Stderr, "devicesim:", err)
			os.Exit(2)
		}
		for i, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			if len(f) != 3 {
				fmt.Fprintf(os.Stderr, "devicesim: %s line %d: want COMMUNE USERNAME PASSWORD\n", *logins, i+1)
				os.Exit(2)
			}
			perCommune[f[0]] = [2]string{f[1], f[2]}
		}
	}
	sim := devicesim.New(devicesim.Config{Broker: *broker, Username: *user, Password: *pass, Logins: perCommune, Communes: list, PCs: *pcs,
		Interval: *interval, Scenario: *scenario, Period: *period, Logger: log})
	log.Info("devicesim running", "broker", *broker, "communes", len(list), "devices", len(sim.Devices))
	if err := sim.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "devicesim:", err)
		os.Exit(1)
	}
	log.Info("devicesim stopped", "telemetry_acknowledged", sim.Sent())
}
