package main

import (
	"context"
	"net"
	"path/filepath"

	"github.com/communehub/communehub/alerts"
	"github.com/communehub/communehub/backlog"
	"github.com/communehub/communehub/devices"
	"github.com/communehub/communehub/displays"
	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/meetings"
	"github.com/communehub/communehub/meetings/media"
)

// features are the hub's features, built, started and mounted.
type features struct {
	devices *devices.Service
	backlog *backlog.Service
	proc    *meetings.Proceedings
	media   *media.Service
	walls   *displays.Service
	alerts  *alerts.Service
}

// worker is a feature's Run, spawned by Run.
type worker struct {
	name string
	run  func(context.Context) error
}

// newFeatures builds each feature on the kernel seam — New with its
// settings, Start where it loads or connects first, Mount on routes — in
// dependency order: the publishers before displays, which shows the
// topics they declare; proceedings before media.
func newFeatures(ctx context.Context, cfg Config, core *hub.Core, routes hub.Routes) (*features, error) {
	f := &features{}
	var err error
	f.devices, err = devices.New(devices.Config{
		URL: cfg.MQTTURL, Listen: cfg.mqttListen(), ClientID: cfg.MQTTClientID, ClientIDFile: filepath.Join(cfg.DataDir, "mqtt-client-id"),
		TelegrafPrefix: cfg.MQTTTelegrafPrefix, SharedGroup: cfg.MQTTSharedGroup, AllowAnonymous: cfg.Demo,
		Interval: cfg.DeviceInterval, KindIntervals: cfg.DeviceKindIntervals, RawRetention: cfg.TelemetryRetention, HourlyRetention: cfg.RollupRetention,
		MaxPacket: int(cfg.MQTTMaxPacket), ConnectTimeout: cfg.MQTTConnectTimeout, Guard: mqttGuard(cfg, core.Metrics, core.Logger),
		SpoolDir: filepath.Join(cfg.DataDir, "mqtt-spool"), SpoolBytes: cfg.MQTTSpoolMax,
		MaxDevicesPerCommune: cfg.DeviceMaxPerCommune, Instance: cfg.InstanceID,
	}, core.Deps("devices"))
	if err != nil {
		return nil, err
	}
	if err := f.devices.Start(ctx); err != nil {
		return nil, err
	}
	f.devices.Mount(routes)

	if f.backlog, err = backlog.New(backlog.Config{DueSoonDays: cfg.BacklogDueSoonDays}, core.Deps("backlog")); err != nil {
		return nil, err
	}
	if err := f.backlog.Start(ctx); err != nil {
		return nil, err
	}
	f.backlog.Mount(routes)

	// Meeting topics on /ws follow the REST API's rule (who may see the
	// meeting); open sockets ask again when access ends (proc.Run).
	if f.proc, err = meetings.NewProceedings(proceedingsConfig(cfg), core.Deps("meetings")); err != nil {
		return nil, err
	}
	if err := f.proc.Start(ctx); err != nil {
		return nil, err
	}
	f.proc.Mount(routes)

	// Meetings media (issue 6): the SFU, /ws/meetings/{id}, the meeting page
	// /meetings/{id} and /api/v1/meetings/{id}/stats.
	mediaCfg := mediaConfig(cfg)
	if host, _, err := net.SplitHostPort(cfg.Addr); err == nil && net.ParseIP(host).IsLoopback() {
		// A hub serving only this machine (tests, a local demo) needs no
		// fixed firewall port: media on loopback, ephemeral, no ICE-TCP.
		mediaCfg.ListenIP, mediaCfg.UDPPort, mediaCfg.TCPPort, mediaCfg.Loopback = host, 0, 0, true
	}
	if f.media, err = media.New(mediaCfg, f.proc, core.Deps("media")); err != nil {
		return nil, err
	}
	if err := f.media.Start(ctx); err != nil {
		return nil, err
	}
	f.media.Mount(routes)

	if f.walls, err = displays.New(displays.Config{Stale: cfg.DisplayStale}, core.Deps("displays")); err != nil {
		_ = f.media.Close()
		return nil, err
	}
	f.walls.Mount(routes)

	// Notifications (issue 17): follows the devices and backlog topics
	// declared above; acknowledges alarms through the devices service.
	hold := cfg.AlertsHold
	if hold == 0 {
		hold = alerts.NoHold
	}
	if f.alerts, err = alerts.New(alerts.Config{PublicURL: cfg.PublicURL, EscalateAfter: cfg.AlertsEscalateAfter,
		Hold: hold, RecoverAfter: cfg.AlertsRecoverAfter}, f.devices, core.Deps("alerts")); err != nil {
		_ = f.media.Close()
		return nil, err
	}
	if err := f.alerts.Start(ctx); err != nil {
		_ = f.media.Close()
		return nil, err
	}
	f.alerts.Mount(routes)
	return f, nil
}

// workers are the features' Run functions.
func (f *features) workers() []worker {
	return []worker{
		{"devices", f.devices.Run}, {"backlog", f.backlog.Run}, {"meetings", f.proc.Run},
		{"media", f.media.Run}, {"displays", f.walls.Run}, {"alerts", f.alerts.Run},
	}
}
