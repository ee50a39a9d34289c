package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigDefaultsEnvAndFlags(t *testing.T) {
	cfg, rest, err := ParseConfig([]string{"--addr", "127.0.0.1:9000", "--demo", "migrate"},
		env(map[string]string{"COMMUNEHUB_ADDR": ":7000", "COMMUNEHUB_LOG_LEVEL": "debug", "COMMUNEHUB_SESSION_TTL": "2h"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9000" {
		t.Errorf("flag should override env: addr = %q", cfg.Addr)
	}
	if cfg.LogLevel != slog.LevelDebug || cfg.SessionTTL != 2*time.Hour || !cfg.Demo {
		t.Errorf("cfg = %+v", cfg)
	}
	if len(rest) != 1 || rest[0] != "migrate" {
		t.Errorf("rest = %v", rest)
	}
	def := DefaultConfig()
	if def.Addr != ":8080" || def.MQTTListen != "127.0.0.1:1883" {
		t.Errorf("defaults = %+v", def)
	}
}

func TestBadConfigExitsTwoNamingTheSetting(t *testing.T) {
	tests := []struct {
		args    []string
		env     map[string]string
		setting string
	}{
		{nil, map[string]string{"COMMUNEHUB_ADDR": "nonsense"}, "COMMUNEHUB_ADDR"},
		{[]string{"--addr", "localhost:99999"}, nil, "COMMUNEHUB_ADDR"},
		{nil, map[string]string{"COMMUNEHUB_DATABASE_URL": "mysql://x"}, "COMMUNEHUB_DATABASE_URL"},
		{nil, map[string]string{"COMMUNEHUB_MQTT_URL": "http://broker"}, "COMMUNEHUB_MQTT_URL"},
		{nil, map[string]string{"COMMUNEHUB_LOG_FORMAT": "xml"}, "COMMUNEHUB_LOG_FORMAT"},
		{nil, map[string]string{"COMMUNEHUB_DEMO": "perhaps"}, "COMMUNEHUB_DEMO"},
		{nil, map[string]string{"COMMUNEHUB_SESSION_TTL": "10s"}, "COMMUNEHUB_SESSION_TTL"},
		{[]string{"--session-ttl", "forever"}, nil, "COMMUNEHUB_SESSION_TTL"},
		{nil, map[string]string{"COMMUNEHUB_ORIGINS": "ftp://x"}, "COMMUNEHUB_ORIGINS"},
		{nil, map[string]string{"COMMUNEHUB_MEDIA_UDP_PORT": "70000"}, "COMMUNEHUB_MEDIA_UDP_PORT"},
		{nil, map[string]string{"COMMUNEHUB_MEDIA_PUBLIC_IPS": "203.0.113.7,commune-hall"}, "COMMUNEHUB_MEDIA_PUBLIC_IPS"},
		{nil, map[string]string{"COMMUNEHUB_MEDIA_STUN_URLS": "stun.example:3478"}, "COMMUNEHUB_MEDIA_STUN_URLS"},
		{nil, map[string]string{"COMMUNEHUB_MEDIA_TURN_URLS": "turn:turn.example"}, "COMMUNEHUB_MEDIA_TURN_URLS"},
		{nil, map[string]string{"COMMUNEHUB_MEDIA_OWNER_STALE": "1s"}, "COMMUNEHUB_MEDIA_OWNER_STALE"},
		{nil, map[string]string{"COMMUNEHUB_HTTP_HEADER_TIMEOUT": "100ms"}, "COMMUNEHUB_HTTP_HEADER_TIMEOUT"},
		{[]string{"--http-idle-timeout", "2h"}, nil, "COMMUNEHUB_HTTP_IDLE_TIMEOUT"},
		{nil, map[string]string{"COMMUNEHUB_HTTP_READ_TIMEOUT": "soon"}, "COMMUNEHUB_HTTP_READ_TIMEOUT"},
		{nil, map[string]string{"COMMUNEHUB_HTTP_WRITE_TIMEOUT": "0s"}, "COMMUNEHUB_HTTP_WRITE_TIMEOUT"},
		{nil, map[string]string{"COMMUNEHUB_HTTP_MAX_HEADER_BYTES": "100"}, "COMMUNEHUB_HTTP_MAX_HEADER_BYTES"},
		{nil, map[string]string{"COMMUNEHUB_HTTP_MAX_CONNS": "-1"}, "COMMUNEHUB_HTTP_MAX_CONNS"},
		{nil, map[string]string{"COMMUNEHUB_LOGIN_ACCOUNT_FAILURES": "0"}, "COMMUNEHUB_LOGIN_ACCOUNT_FAILURES"},
		{nil, map[string]string{"COMMUNEHUB_DEVICE_MAX_PER_COMMUNE": "0"}, "COMMUNEHUB_DEVICE_MAX_PER_COMMUNE"},
		{[]string{"--device-max-per-commune", "many"}, nil, "COMMUNEHUB_DEVICE_MAX_PER_COMMUNE"},
		{[]string{"--login-ip-failures", "lots"}, nil, "COMMUNEHUB_LOGIN_IP_FAILURES"},
		{nil, map[string]string{"COMMUNEHUB_HTTP_MAX_CONNS_PER_IP": "many"}, "COMMUNEHUB_HTTP_MAX_CONNS_PER_IP"},
		{nil, map[string]string{"COMMUNEHUB_METRICS_TOKEN": "short"}, "COMMUNEHUB_METRICS_TOKEN"},
		{nil, map[string]string{"COMMUNEHUB_MQTT_MAX_CONNS": "lots"}, "COMMUNEHUB_MQTT_MAX_CONNS"},
		{nil, map[string]string{"COMMUNEHUB_MQTT_MAX_CONNS_PER_IP": "-2"}, "COMMUNEHUB_MQTT_MAX_CONNS_PER_IP"},
		{nil, map[string]string{"COMMUNEHUB_METRICS_ADDR": "nowhere"}, "COMMUNEHUB_METRICS_ADDR"},
		{[]string{"--addr", "127.0.0.1:8080", "--metrics-addr", "127.0.0.1:8080"}, nil, "COMMUNEHUB_METRICS_ADDR"},
		{nil, map[string]string{"COMMUNEHUB_MQTT_SPOOL_MAX": "1MiB"}, "COMMUNEHUB_MQTT_SPOOL_MAX"},
		{[]string{"--mqtt-spool-max", "lots"}, nil, "COMMUNEHUB_MQTT_SPOOL_MAX"},
		{nil, map[string]string{"COMMUNEHUB_MEMORY_LIMIT": "16MiB"}, "COMMUNEHUB_MEMORY_LIMIT"},
		{[]string{"--memory-limit", "plenty"}, nil, "COMMUNEHUB_MEMORY_LIMIT"},
		{nil, map[string]string{"COMMUNEHUB_OUTBOX_RETENTION": "1m"}, "COMMUNEHUB_OUTBOX_RETENTION"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		code := Main(context.Background(), tt.args, env(tt.env), strings.NewReader(""), &bytes.Buffer{}, &stderr)
		if code != 2 {
			t.Errorf("%v %v: exit %d, want 2", tt.args, tt.env, code)
		}
		if !strings.Contains(stderr.String(), tt.setting) || !strings.Contains(stderr.String(), "accepted") {
			t.Errorf("%v %v: message %q does not name %s and what is accepted", tt.args, tt.env, stderr.String(), tt.setting)
		}
	}
}

func TestUnknownCommandExitsTwo(t *testing.T) {
	var stderr bytes.Buffer
	if code := Main(context.Background(), []string{"frobnicate"}, env(nil), nil, &bytes.Buffer{}, &stderr); code != 2 {
		t.Errorf("exit %d", code)
	}
	if code := Main(context.Background(), []string{"users", "add", "x", "--role", "king"}, env(nil), strings.NewReader("pw\n"), &bytes.Buffer{}, &stderr); code != 2 {
		t.Errorf("bad role: exit %d", code)
	}
}

func TestMediaSettings(t *testing.T) {
	cfg, _, err := ParseConfig([]string{"--media-udp-port", "40000"}, env(map[string]string{
		"COMMUNEHUB_MEDIA_TCP_PORT":      "0",
		"COMMUNEHUB_MEDIA_PUBLIC_IPS":    "203.0.113.7, 198.51.100.2",
		"COMMUNEHUB_MEDIA_STUN_URLS":     "stun:stun.example:3478",
		"COMMUNEHUB_MEDIA_TURN_URLS":     "turn:turn.example:3478?transport=udp",
		"COMMUNEHUB_MEDIA_TURN_USERNAME": "hub",
		"COMMUNEHUB_MEDIA_TURN_PASSWORD": "secret",
		"COMMUNEHUB_INSTANCE_ID":         "hub-a",
	}))
	if err != nil {
		t.Fatal(err)
	}
	m := mediaConfig(cfg)
	if m.UDPPort != 40000 || m.TCPPort != 0 || len(m.PublicIPs) != 2 || m.PublicIPs[1] != "198.51.100.2" ||
		m.STUNURLs[0] != "stun:stun.example:3478" || m.TURNUsername != "hub" || m.InstanceID != "hub-a" {
		t.Errorf("media config = %+v", m)
	}
	if err := m.Validate(); err != nil {
		t.Errorf("valid settings refused by media.Config.Validate: %v", err)
	}
	if d := mediaConfig(DefaultConfig()); d.UDPPort != 50000 || d.TCPPort != 50000 {
		t.Errorf("default media ports %d/%d", d.UDPPort, d.TCPPort)
	}
}

// Each setting reaches its field parsed, once, in ParseConfig.
func TestTypedSettings(t *testing.T) {
	cfg, _, err := ParseConfig([]string{"--mqtt-max-packet", "512KiB", "--backlog-due-soon-days", " 5"}, env(map[string]string{
		"COMMUNEHUB_ORIGINS":               "https://a.example, ,http://b.example:8080",
		"COMMUNEHUB_MQTT_SPOOL_MAX":        "64MiB",
		"COMMUNEHUB_MEMORY_LIMIT":          "160MiB",
		"COMMUNEHUB_MEETING_DOC_MAX":       "512KiB",
		"COMMUNEHUB_MEETING_DOC_TYPES":     "PDF,.odt",
		"COMMUNEHUB_DEVICE_KIND_INTERVALS": "camera=30s",
		"COMMUNEHUB_DISPLAY_STALE":         "devices=2m",
		"COMMUNEHUB_HTTP_MAX_CONNS":        "0",
		"COMMUNEHUB_LOGIN_IP_FAILURES":     "7",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Origins) != 2 || cfg.Origins[1] != "http://b.example:8080" {
		t.Errorf("origins %q", cfg.Origins)
	}
	if cfg.MQTTMaxPacket != 512<<10 || cfg.MQTTSpoolMax != 64<<20 || cfg.MemoryLimit != 160<<20 || cfg.MeetingDocMax != 512<<10 {
		t.Errorf("sizes %d %d %d %d", cfg.MQTTMaxPacket, cfg.MQTTSpoolMax, cfg.MemoryLimit, cfg.MeetingDocMax)
	}
	if len(cfg.MeetingDocTypes) != 2 || cfg.MeetingDocTypes[0] != "pdf" || cfg.MeetingDocTypes[1] != "odt" {
		t.Errorf("doc types %q", cfg.MeetingDocTypes)
	}
	if cfg.DeviceKindIntervals["camera"] != 30*time.Second || cfg.DisplayStale["devices"] != 2*time.Minute {
		t.Errorf("intervals %v, stale %v", cfg.DeviceKindIntervals, cfg.DisplayStale)
	}
	if cfg.BacklogDueSoonDays != 5 || cfg.HTTPMaxConns != 0 || cfg.LoginIPFailures != 7 || cfg.throttle().IPFree != 7 {
		t.Errorf("integers %d %d %d", cfg.BacklogDueSoonDays, cfg.HTTPMaxConns, cfg.LoginIPFailures)
	}
	// The defaults are what their former text said.
	def := DefaultConfig()
	for text, got := range map[string]int64{"256KiB": def.MQTTMaxPacket, "1GiB": def.MQTTSpoolMax, "50MiB": def.MeetingDocMax} {
		if n, err := parseSize(text, 1<<40); err != nil || n != got {
			t.Errorf("default %d, want %s", got, text)
		}
	}
}
