package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/communehub/communehub/devices"
	"github.com/communehub/communehub/displays"
	"github.com/communehub/communehub/hub"
)

// Config is every setting of the hub. Defaults live in DefaultConfig; each
// setting has a flag and a COMMUNEHUB_* environment variable (the flag wins).
type Config struct {
	Addr         string        // HTTP listen address
	DatabaseURL  string        // empty: local server on 127.0.0.1:5432, else embedded PostgreSQL
	MQTTURL      string        // external broker (tcp://host:port); empty: use or run one on MQTTListen
	MQTTListen   string        // where the embedded broker listens (and where a local broker is looked for)
	MQTTClientID string        // fixed client id for the external broker's persistent session; empty: made once, kept in the data dir
	DataDir      string        // embedded PostgreSQL data, the hub's signing key, uploads
	Demo         bool          // seed demo data and run simulators
	LogFormat    string        // auto, text or json
	LogLevel     string        // debug, info, warn or error
	Origins      string        // comma-separated allowed websocket origins; empty: same host
	SecureCookie bool          // mark the session cookie Secure (behind HTTPS)
	SessionTTL   time.Duration // idle lifetime of a login session
	InstanceID   string        // this hub instance's id (several hubs on one database)
	PublicURL    string        // how browsers reach this instance, e.g. http://10.0.0.5:8080

	// Operations endpoints (front.go): a bearer token for /metrics, and an
	// address of their own (/metrics, /healthz, /readyz), which takes
	// /metrics off the main port.
	MetricsToken, MetricsAddr string

	// Login throttling (hub.ThrottleConfig): failures of one account, and
	// from one address, before logins back off; integers.
	LoginAccountFailures, LoginIPFailures string

	// HTTP connection limits (hub.HTTPLimits, hub.ListenOptions): slow
	// clients are cut, floods are capped.
	HTTPHeaderTimeout, HTTPReadTimeout, HTTPWriteTimeout, HTTPIdleTimeout time.Duration
	HTTPMaxHeaderBytes, HTTPMaxConns, HTTPMaxConnsPerIP                   string // integers
	MQTTMaxConns, MQTTMaxConnsPerIP                                       string // the embedded broker's port; integers

	// HTTPS (tls.go): a certificate and key, or a self-signed certificate
	// the hub makes; either turns the Secure cookie flag on.
	TLSCert, TLSKey string
	TLSSelfSigned   bool

	MQTTTelegrafPrefix  string        // topic prefix of Telegraf agents ("-" disables)
	MQTTSharedGroup     string        // external broker: subscribe via $share/{group}/ so several hubs split the load
	MQTTMaxPacket       string        // embedded broker: largest packet after login, e.g. 256KiB
	DeviceMaxPerCommune string        // devices one commune may have; a message from one more is rejected (too_many_devices)
	MQTTConnectTimeout  time.Duration // embedded broker: a new connection must send its CONNECT within this
	MQTTSpoolMax        string        // embedded broker: bound of the spool of acknowledged telemetry, e.g. 1GiB
	MemoryLimit         string        // the Go runtime's soft memory limit (debug.SetMemoryLimit), e.g. 160MiB; 0: none
	DeviceInterval      time.Duration // default device reporting interval; offline after 3 missed
	DeviceKindIntervals string        // per-kind reporting intervals, e.g. "camera=30s,ups=1m"
	TelemetryRetention  time.Duration // raw telemetry kept
	RollupRetention     time.Duration // hourly telemetry rollups kept
	OutboxRetention     time.Duration // outbox rows kept (each topic's newest always)

	MeetingDocMax         string        // largest meeting document upload, e.g. 50MiB
	MeetingDocTypes       string        // allowed meeting document types (extensions)
	MeetingReconnectGrace time.Duration // a dropped participant is "reconnecting", not absent, this long

	BacklogDueSoonDays string // an open dossier or document is "due soon" within this many working days

	DisplayStale string // per topic kind, the age at which a wall tile turns stale, e.g. "devices=5m"

	// Meeting media (the SFU); see media.go.
	MediaUDPPort, MediaTCPPort    string // one UDP port for all media; ICE-TCP fallback port (0: off)
	MediaListenIP, MediaPublicIPs string // bind address; comma-separated public IPs (1:1 NAT)
	MediaSTUNURLs, MediaTURNURLs  string // comma-separated stun:/turn: URLs given to browsers and the SFU
	MediaTURNUser, MediaTURNPass  string
	MediaOwnerStale               time.Duration // how long a meeting's owner instance may miss heartbeats

	appHook func(*fiber.App) // tests: sees the wired app before it listens
	given   map[string]bool  // environment names of the settings given (env or flag), not defaulted
}

// Given reports whether the setting with environment name env was set by
// the environment or a flag rather than left at its default.
func (c *Config) Given(env string) bool { return c.given[env] }

// DemoBrokerListen is where --demo runs its embedded broker: a free port
// on loopback, so that the demo never feeds on (or fights) a broker that
// happens to answer on 127.0.0.1:1883, unless --mqtt-url or --mqtt-listen
// says otherwise.
const DemoBrokerListen = "127.0.0.1:0"

// mqttListen is the broker listen address the devices component gets.
func (c *Config) mqttListen() string {
	if c.Demo && !c.Given("COMMUNEHUB_MQTT_URL") && !c.Given("COMMUNEHUB_MQTT_LISTEN") {
		return DemoBrokerListen
	}
	return c.MQTTListen
}

// DefaultConfig returns the defaults, in one place.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Addr:         ":8080",
		MQTTListen:   "127.0.0.1:1883",
		MQTTClientID: "", // made once and kept in the data dir (see the devices package)
		DataDir:      defaultDataDir(),
		LogFormat:    "auto",
		LogLevel:     "info",
		SessionTTL:   12 * time.Hour,
		InstanceID:   host,

		HTTPHeaderTimeout:  10 * time.Second,
		HTTPReadTimeout:    5 * time.Minute,
		HTTPWriteTimeout:   5 * time.Minute,
		HTTPIdleTimeout:    60 * time.Second,
		HTTPMaxHeaderBytes: "4096",
		HTTPMaxConns:       "10000",
		HTTPMaxConnsPerIP:  "256",
		MQTTMaxConns:       "20000",
		MQTTMaxConnsPerIP:  "0",

		LoginAccountFailures: "5",
		LoginIPFailures:      "100",

		MQTTTelegrafPrefix:  "telegraf",
		MQTTMaxPacket:       "256KiB",
		MQTTConnectTimeout:  devices.DefaultConnectTimeout,
		MQTTSpoolMax:        "1GiB",
		MemoryLimit:         "0",
		DeviceInterval:      10 * time.Second,
		DeviceMaxPerCommune: "2000",
		TelemetryRetention:  90 * 24 * time.Hour,
		OutboxRetention:     24 * time.Hour,
		RollupRetention:     2 * 365 * 24 * time.Hour,

		MeetingDocMax:         "50MiB",
		MeetingDocTypes:       "pdf,doc,docx,xls,xlsx,ppt,pptx,odt,ods,odp",
		MeetingReconnectGrace: time.Minute,

		BacklogDueSoonDays: "2",

		MediaUDPPort:    "50000",
		MediaTCPPort:    "50000",
		MediaOwnerStale: 30 * time.Second,
	}
}

// defaultDataDir is /var/lib/communehub for root (an embedded PostgreSQL
// then runs as the postgres user, who cannot enter /root), else the user's
// data directory.
func defaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/communehub"
	}
	if d, err := os.UserHomeDir(); err == nil && d != "" {
		return filepath.Join(d, ".local", "share", "communehub")
	}
	return "communehub-data"
}

// setting binds one Config field to a flag and an environment variable.
type setting struct {
	flag, env, help string
	str             *string
	b               *bool
	dur             *time.Duration
	check           func(string) error // validates a string value; nil accepts any
	accepted        string             // what is accepted, for the error message
}

func (c *Config) settings() []setting {
	return []setting{
		{flag: "addr", env: "COMMUNEHUB_ADDR", str: &c.Addr, help: "HTTP listen address", check: checkHostPort, accepted: "host:port, e.g. :8080"},
		{flag: "database-url", env: "COMMUNEHUB_DATABASE_URL", str: &c.DatabaseURL, help: "PostgreSQL URL (empty: local server or embedded)", check: checkPostgresURL, accepted: "postgres://user[:pass]@host[:port]/db"},
		{flag: "mqtt-url", env: "COMMUNEHUB_MQTT_URL", str: &c.MQTTURL, help: "external MQTT broker (empty: use or run one on --mqtt-listen)", check: checkMQTTURL, accepted: "tcp://host:port, mqtt://host:port or ssl://host:port"},
		{flag: "mqtt-listen", env: "COMMUNEHUB_MQTT_LISTEN", str: &c.MQTTListen, help: "embedded MQTT broker address", check: checkHostPort, accepted: "host:port, e.g. 127.0.0.1:1883"},
		{flag: "mqtt-client-id", env: "COMMUNEHUB_MQTT_CLIENT_ID", str: &c.MQTTClientID, help: "client id for the external broker (default: communehub-HOST-RANDOM, made once and kept in DATA_DIR/mqtt-client-id); every hub needs its own", check: nonEmpty, accepted: "a non-empty id"},
		{flag: "data-dir", env: "COMMUNEHUB_DATA_DIR", str: &c.DataDir, help: "data directory", check: nonEmpty, accepted: "a directory path"},
		{flag: "demo", env: "COMMUNEHUB_DEMO", b: &c.Demo, help: "seed demo data and run simulators", accepted: "true or false"},
		{flag: "log-format", env: "COMMUNEHUB_LOG_FORMAT", str: &c.LogFormat, help: "log format", check: oneOf("auto", "text", "json"), accepted: "auto, text or json"},
		{flag: "log-level", env: "COMMUNEHUB_LOG_LEVEL", str: &c.LogLevel, help: "log level", check: oneOf("debug", "info", "warn", "error"), accepted: "debug, info, warn or error"},
		{flag: "origins", env: "COMMUNEHUB_ORIGINS", str: &c.Origins, help: "allowed websocket origins, comma-separated (empty: same host)", check: checkOrigins, accepted: "comma-separated http(s)://host[:port]"},
		{flag: "secure-cookie", env: "COMMUNEHUB_SECURE_COOKIE", b: &c.SecureCookie, help: "mark the session cookie Secure", accepted: "true or false"},
		{flag: "session-ttl", env: "COMMUNEHUB_SESSION_TTL", dur: &c.SessionTTL, help: "login session idle lifetime", accepted: "a duration ≥ 1m, e.g. 12h"},
		{flag: "instance-id", env: "COMMUNEHUB_INSTANCE_ID", str: &c.InstanceID, help: "this hub instance's id", check: nonEmpty, accepted: "a non-empty id"},
		{flag: "public-url", env: "COMMUNEHUB_PUBLIC_URL", str: &c.PublicURL, help: "URL browsers use to reach this instance", check: checkOptionalHTTPURL, accepted: "http(s)://host[:port]"},
		{flag: "metrics-token", env: "COMMUNEHUB_METRICS_TOKEN", str: &c.MetricsToken, help: "bearer token /metrics asks for (Authorization: Bearer TOKEN); empty: open", check: checkToken, accepted: "at least 16 characters without spaces"},
		{flag: "metrics-addr", env: "COMMUNEHUB_METRICS_ADDR", str: &c.MetricsAddr, help: "serve /metrics, /healthz and /readyz on this address of their own (and no /metrics on --addr); empty: on --addr", check: checkHostPort, accepted: "host:port, e.g. 127.0.0.1:9090"},
		{flag: "login-account-failures", env: "COMMUNEHUB_LOGIN_ACCOUNT_FAILURES", str: &c.LoginAccountFailures, help: "failed logins of one account before it is locked (1 s, doubling to 15 min; 429 with Retry-After)", check: checkIntRange(1, 1000), accepted: "an integer 1–1000"},
		{flag: "login-ip-failures", env: "COMMUNEHUB_LOGIN_IP_FAILURES", str: &c.LoginIPFailures, help: "failed logins from one address (IPv6: its /64) before it is locked; keep it high, a commune office logs in from behind one NAT", check: checkIntRange(1, 1_000_000), accepted: "an integer 1–1000000"},
		{flag: "http-header-timeout", env: "COMMUNEHUB_HTTP_HEADER_TIMEOUT", dur: &c.HTTPHeaderTimeout, help: "time a client has to send a request's header (from connecting, or from the first byte of a kept-alive request)", accepted: "a duration 1s–10m, e.g. 10s"},
		{flag: "http-read-timeout", env: "COMMUNEHUB_HTTP_READ_TIMEOUT", dur: &c.HTTPReadTimeout, help: "time a client has to send a request's body once the header is in", accepted: "a duration 1s–24h, e.g. 5m"},
		{flag: "http-write-timeout", env: "COMMUNEHUB_HTTP_WRITE_TIMEOUT", dur: &c.HTTPWriteTimeout, help: "time a response may take to be written", accepted: "a duration 1s–24h, e.g. 5m"},
		{flag: "http-idle-timeout", env: "COMMUNEHUB_HTTP_IDLE_TIMEOUT", dur: &c.HTTPIdleTimeout, help: "how long a kept-alive connection may wait for its next request", accepted: "a duration 1s–1h, e.g. 60s"},
		{flag: "http-max-header-bytes", env: "COMMUNEHUB_HTTP_MAX_HEADER_BYTES", str: &c.HTTPMaxHeaderBytes, help: "largest request line and headers (larger get 431); also the read buffer every websocket keeps", check: checkIntRange(1024, 1<<20), accepted: "an integer 1024–1048576 (bytes)"},
		{flag: "http-max-conns", env: "COMMUNEHUB_HTTP_MAX_CONNS", str: &c.HTTPMaxConns, help: "HTTP connections open at once (websockets included); more are closed at accept and counted", check: checkIntRange(0, 10_000_000), accepted: "an integer ≥ 0 (0: no cap)"},
		{flag: "http-max-conns-per-ip", env: "COMMUNEHUB_HTTP_MAX_CONNS_PER_IP", str: &c.HTTPMaxConnsPerIP, help: "HTTP connections open at once from one client IP", check: checkIntRange(0, 10_000_000), accepted: "an integer ≥ 0 (0: no cap)"},
		{flag: "mqtt-max-conns", env: "COMMUNEHUB_MQTT_MAX_CONNS", str: &c.MQTTMaxConns, help: "embedded broker: connections open at once; more are closed at accept and counted", check: checkIntRange(0, 10_000_000), accepted: "an integer ≥ 0 (0: no cap)"},
		{flag: "mqtt-max-conns-per-ip", env: "COMMUNEHUB_MQTT_MAX_CONNS_PER_IP", str: &c.MQTTMaxConnsPerIP, help: "embedded broker: connections open at once from one IP (devices behind one NAT share it)", check: checkIntRange(0, 10_000_000), accepted: "an integer ≥ 0 (0: no cap)"},
		{flag: "tls-cert", env: "COMMUNEHUB_TLS_CERT", str: &c.TLSCert, help: "serve HTTPS with this PEM certificate (chain) file; re-read when it changes", accepted: "a file path"},
		{flag: "tls-key", env: "COMMUNEHUB_TLS_KEY", str: &c.TLSKey, help: "the PEM private key of --tls-cert", accepted: "a file path"},
		{flag: "tls-self-signed", env: "COMMUNEHUB_TLS_SELF_SIGNED", b: &c.TLSSelfSigned, help: "serve HTTPS with a self-signed certificate the hub makes and keeps in the data dir", accepted: "true or false"},
		{flag: "mqtt-telegraf-prefix", env: "COMMUNEHUB_MQTT_TELEGRAF_PREFIX", str: &c.MQTTTelegrafPrefix, help: "topic prefix of Telegraf agents: {prefix}/{commune}/{agent}/… (- disables)", check: checkTopicPrefix, accepted: "topic segments without wildcards, e.g. telegraf, or -"},
		{flag: "mqtt-shared-group", env: "COMMUNEHUB_MQTT_SHARED_GROUP", str: &c.MQTTSharedGroup, help: "external broker: subscribe through $share/GROUP/ so several hubs split the load", check: checkTopicPrefix, accepted: "a group name without / + #"},
		{flag: "mqtt-max-packet", env: "COMMUNEHUB_MQTT_MAX_PACKET", str: &c.MQTTMaxPacket, help: "embedded broker: largest MQTT packet a logged-in client may send (a larger one closes its connection)", check: checkMQTTMaxPacket, accepted: "a size from 1KiB to 16MiB, e.g. 256KiB"},
		{flag: "mqtt-connect-timeout", env: "COMMUNEHUB_MQTT_CONNECT_TIMEOUT", dur: &c.MQTTConnectTimeout, help: "embedded broker: a new connection that has not sent its whole CONNECT within this is closed", accepted: "a duration 1s–5m, e.g. 10s"},
		{flag: "memory-limit", env: "COMMUNEHUB_MEMORY_LIMIT", str: &c.MemoryLimit, help: "soft limit of the hub's Go memory (heap and goroutine stacks): the garbage collector works harder near it (0: none; GOMEMLIMIT then applies)", check: checkMemoryLimit, accepted: "0, or a size from 32MiB to 1TiB, e.g. 160MiB"},
		{flag: "mqtt-spool-max", env: "COMMUNEHUB_MQTT_SPOOL_MAX", str: &c.MQTTSpoolMax, help: "embedded broker: largest size of the spool of acknowledged telemetry in the data dir (when full, devices get no PUBACK)", check: checkSpoolSize, accepted: "a size from 16MiB to 1TiB, e.g. 1GiB or 512MiB"},
		{flag: "device-interval", env: "COMMUNEHUB_DEVICE_INTERVAL", dur: &c.DeviceInterval, help: "default device reporting interval (offline after 3 missed)", accepted: "a duration 1s–1h, e.g. 10s"},
		{flag: "device-max-per-commune", env: "COMMUNEHUB_DEVICE_MAX_PER_COMMUNE", str: &c.DeviceMaxPerCommune, help: "devices one commune may have; a message from one device more is rejected and counted (too_many_devices)", check: checkIntRange(1, 1_000_000), accepted: "an integer 1–1000000"},
		{flag: "device-kind-intervals", env: "COMMUNEHUB_DEVICE_KIND_INTERVALS", str: &c.DeviceKindIntervals, help: "reporting interval per device kind (a device's meta interval_s wins)", check: checkKindIntervals, accepted: "kind=duration pairs, e.g. camera=30s,ups=1m (kinds: router, switch, ap, camera, pc, printer, ups, agent, other)"},
		{flag: "telemetry-retention", env: "COMMUNEHUB_TELEMETRY_RETENTION", dur: &c.TelemetryRetention, help: "how long raw telemetry is kept", accepted: "a duration ≥ 24h, e.g. 2160h (90 days)"},
		{flag: "outbox-retention", env: "COMMUNEHUB_OUTBOX_RETENTION", dur: &c.OutboxRetention, help: "how long outbox rows (the events handed between hub instances) are kept; each topic's newest is kept however old", accepted: "a duration ≥ 10m, e.g. 24h"},
		{flag: "rollup-retention", env: "COMMUNEHUB_ROLLUP_RETENTION", dur: &c.RollupRetention, help: "how long hourly telemetry rollups are kept", accepted: "a duration ≥ the telemetry retention, e.g. 17520h (2 years)"},
		{flag: "meeting-doc-max", env: "COMMUNEHUB_MEETING_DOC_MAX", str: &c.MeetingDocMax, help: "largest meeting document upload", check: checkByteSize, accepted: "a size up to 256MiB, e.g. 50MiB, 512KiB or bytes"},
		{flag: "meeting-doc-types", env: "COMMUNEHUB_MEETING_DOC_TYPES", str: &c.MeetingDocTypes, help: "allowed meeting document types", check: checkDocTypes, accepted: "comma-separated: pdf, doc, docx, xls, xlsx, ppt, pptx, odt, ods, odp"},
		{flag: "meeting-reconnect-grace", env: "COMMUNEHUB_MEETING_RECONNECT_GRACE", dur: &c.MeetingReconnectGrace, help: "how long a participant whose link dropped stays \"reconnecting\" before being recorded as left", accepted: "a duration 5s–30m, e.g. 1m"},
		{flag: "backlog-due-soon-days", env: "COMMUNEHUB_BACKLOG_DUE_SOON_DAYS", str: &c.BacklogDueSoonDays, help: "working days before a deadline during which an open dossier or document counts as due soon", check: checkIntRange(1, 30), accepted: "an integer 1–30"},
		{flag: "display-stale", env: "COMMUNEHUB_DISPLAY_STALE", str: &c.DisplayStale, help: "age at which a wall tile turns stale, per topic kind (defaults: kpi, province_kpi, backlog 26h; devices 5m; meetings, meeting 0 = off)", check: checkDisplayStale, accepted: "kind=duration pairs, e.g. devices=2m,kpi=0 (kinds: kpi, province_kpi, backlog, devices, meetings, meeting)"},
		{flag: "media-udp-port", env: "COMMUNEHUB_MEDIA_UDP_PORT", str: &c.MediaUDPPort, help: "the one UDP port all meeting media uses (ICE UDP mux)", check: checkPort, accepted: "a port 0–65535 (0: any free port)"},
		{flag: "media-tcp-port", env: "COMMUNEHUB_MEDIA_TCP_PORT", str: &c.MediaTCPPort, help: "ICE-TCP fallback port for links that block UDP", check: checkPort, accepted: "a port 0–65535 (0: no ICE-TCP)"},
		{flag: "media-listen-ip", env: "COMMUNEHUB_MEDIA_LISTEN_IP", str: &c.MediaListenIP, help: "bind media sockets to this address (empty: all)", check: checkIPList, accepted: "an IP address"},
		{flag: "media-public-ips", env: "COMMUNEHUB_MEDIA_PUBLIC_IPS", str: &c.MediaPublicIPs, help: "public IPs to advertise (server behind a 1:1 NAT)", check: checkIPList, accepted: "comma-separated IP addresses"},
		{flag: "media-stun-urls", env: "COMMUNEHUB_MEDIA_STUN_URLS", str: &c.MediaSTUNURLs, help: "STUN servers", check: checkURLPrefix("stun:", "stuns:"), accepted: "comma-separated stun:host[:port]"},
		{flag: "media-turn-urls", env: "COMMUNEHUB_MEDIA_TURN_URLS", str: &c.MediaTURNURLs, help: "TURN servers (need user and password)", check: checkURLPrefix("turn:", "turns:"), accepted: "comma-separated turn:host[:port][?transport=udp|tcp]"},
		{flag: "media-turn-username", env: "COMMUNEHUB_MEDIA_TURN_USERNAME", str: &c.MediaTURNUser, help: "TURN username", accepted: "a string"},
		{flag: "media-turn-password", env: "COMMUNEHUB_MEDIA_TURN_PASSWORD", str: &c.MediaTURNPass, help: "TURN password", accepted: "a string"},
		{flag: "media-owner-stale", env: "COMMUNEHUB_MEDIA_OWNER_STALE", dur: &c.MediaOwnerStale, help: "how long a meeting's owner instance may miss heartbeats before another takes over", accepted: "a duration ≥ 5s, e.g. 30s"},
	}
}

// errHelp is returned when --help was asked for (exit 0).
var errHelp = flag.ErrHelp

// ConfigError names the setting at fault; main exits 2 on it.
type ConfigError struct {
	Setting, Env, Value, Accepted string
	Err                           error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("invalid setting %s (--%s) = %q: %v; accepted: %s", e.Env, e.Setting, e.Value, e.Err, e.Accepted)
}

// ParseConfig builds the Config from defaults, the environment and args.
// It returns the remaining arguments (the subcommand and its arguments).
func ParseConfig(args []string, getenv func(string) string) (Config, []string, error) {
	c := DefaultConfig()
	fs := flag.NewFlagSet("communehub", flag.ContinueOnError)
	// The flag package prints its own message and the whole usage on any
	// error; we print ours (naming the setting) and the usage only for --help.
	fs.SetOutput(io.Discard)
	sets := c.settings()
	var flagErr *ConfigError // the flag package keeps only the text of a Func's error
	// Environment first, so that flags override it.
	for _, s := range sets {
		v := getenv(s.env)
		if v == "" {
			continue
		}
		if err := s.set(v); err != nil {
			return c, nil, &ConfigError{Setting: s.flag, Env: s.env, Value: v, Accepted: s.accepted, Err: err}
		}
		c.markGiven(s.env)
	}
	for _, s := range sets {
		fs.Func(s.flag, fmt.Sprintf("%s (env %s; %s)", s.help, s.env, s.accepted), func(v string) error {
			if err := s.set(v); err != nil {
				flagErr = &ConfigError{Setting: s.flag, Env: s.env, Value: v, Accepted: s.accepted, Err: err}
				return flagErr
			}
			c.markGiven(s.env)
			return nil
		})
		if s.b != nil {
			// Let a bare --demo mean true.
			fs.Lookup(s.flag).DefValue = "false"
		}
	}
	if err := fs.Parse(normaliseBoolFlags(args, sets)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "usage: communehub [flags] [serve | migrate | users add NAME --role ROLE | tokens create|revoke | import dossiers FILE | devices credentials … | minutes verify FILE]")
			fmt.Fprintln(os.Stderr, "Every flag can also be set by its environment variable; the flag wins.")
			fs.SetOutput(os.Stderr)
			fs.PrintDefaults()
			return c, nil, errHelp
		}
		if flagErr != nil {
			return c, nil, flagErr
		}
		return c, nil, &ConfigError{Setting: "flags", Env: "-", Value: strings.Join(args, " "), Accepted: "the flags listed by --help", Err: err}
	}
	return c, fs.Args(), c.Validate()
}

func (c *Config) markGiven(env string) {
	if c.given == nil {
		c.given = map[string]bool{}
	}
	c.given[env] = true
}

// normaliseBoolFlags turns a bare "--demo" into "--demo=true" for flag.Func.
func normaliseBoolFlags(args []string, sets []setting) []string {
	bools := map[string]bool{}
	for _, s := range sets {
		if s.b != nil {
			bools[s.flag] = true
		}
	}
	out := make([]string, 0, len(args))
	for _, a := range args {
		name := strings.TrimLeft(a, "-")
		if strings.HasPrefix(a, "-") && !strings.Contains(name, "=") && bools[name] {
			a += "=true"
		}
		out = append(out, a)
	}
	return out
}

func (s setting) set(v string) error {
	switch {
	case s.str != nil:
		if s.check != nil {
			if err := s.check(v); err != nil {
				return err
			}
		}
		*s.str = v
	case s.b != nil:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("not a boolean")
		}
		*s.b = b
	case s.dur != nil:
		d, err := time.ParseDuration(v)
		if err != nil {
			return errors.New("not a duration")
		}
		*s.dur = d
	}
	return nil
}

// Validate checks rules that span settings or bound values.
func (c *Config) Validate() error {
	if c.MediaOwnerStale < 5*time.Second {
		return &ConfigError{Setting: "media-owner-stale", Env: "COMMUNEHUB_MEDIA_OWNER_STALE", Value: c.MediaOwnerStale.String(), Accepted: "a duration ≥ 5s", Err: errors.New("too short")}
	}
	if c.MediaTURNURLs != "" && (c.MediaTURNUser == "" || c.MediaTURNPass == "") {
		return &ConfigError{Setting: "media-turn-urls", Env: "COMMUNEHUB_MEDIA_TURN_URLS", Value: c.MediaTURNURLs, Accepted: "TURN URLs together with COMMUNEHUB_MEDIA_TURN_USERNAME and _PASSWORD", Err: errors.New("no TURN credentials")}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		set, env, v := "tls-cert", "COMMUNEHUB_TLS_CERT", c.TLSCert
		if c.TLSCert == "" {
			set, env, v = "tls-key", "COMMUNEHUB_TLS_KEY", c.TLSKey
		}
		return &ConfigError{Setting: set, Env: env, Value: v, Accepted: "COMMUNEHUB_TLS_CERT and COMMUNEHUB_TLS_KEY together", Err: errors.New("the other half is missing")}
	}
	if c.TLSSelfSigned && c.TLSCert != "" {
		return &ConfigError{Setting: "tls-self-signed", Env: "COMMUNEHUB_TLS_SELF_SIGNED", Value: "true", Accepted: "either a certificate (COMMUNEHUB_TLS_CERT) or a self-signed one, not both", Err: errors.New("two certificates")}
	}
	if c.MetricsAddr != "" && c.MetricsAddr == c.Addr {
		return &ConfigError{Setting: "metrics-addr", Env: "COMMUNEHUB_METRICS_ADDR", Value: c.MetricsAddr, Accepted: "an address other than COMMUNEHUB_ADDR", Err: errors.New("same as the main address")}
	}
	if err := c.validateHTTP(); err != nil {
		return err
	}
	if c.SessionTTL < time.Minute {
		return &ConfigError{Setting: "session-ttl", Env: "COMMUNEHUB_SESSION_TTL", Value: c.SessionTTL.String(), Accepted: "a duration ≥ 1m", Err: errors.New("too short")}
	}
	if c.MeetingReconnectGrace < 5*time.Second || c.MeetingReconnectGrace > 30*time.Minute {
		return &ConfigError{Setting: "meeting-reconnect-grace", Env: "COMMUNEHUB_MEETING_RECONNECT_GRACE", Value: c.MeetingReconnectGrace.String(), Accepted: "a duration 5s–30m", Err: errors.New("out of range")}
	}
	return c.validateDevices()
}

func (c *Config) validateHTTP() error {
	for _, d := range []struct {
		set, env  string
		v, lo, hi time.Duration
		accepted  string
	}{
		{"http-header-timeout", "COMMUNEHUB_HTTP_HEADER_TIMEOUT", c.HTTPHeaderTimeout, time.Second, 10 * time.Minute, "a duration 1s–10m"},
		{"http-read-timeout", "COMMUNEHUB_HTTP_READ_TIMEOUT", c.HTTPReadTimeout, time.Second, 24 * time.Hour, "a duration 1s–24h"},
		{"http-write-timeout", "COMMUNEHUB_HTTP_WRITE_TIMEOUT", c.HTTPWriteTimeout, time.Second, 24 * time.Hour, "a duration 1s–24h"},
		{"http-idle-timeout", "COMMUNEHUB_HTTP_IDLE_TIMEOUT", c.HTTPIdleTimeout, time.Second, time.Hour, "a duration 1s–1h"},
	} {
		if d.v < d.lo || d.v > d.hi {
			return &ConfigError{Setting: d.set, Env: d.env, Value: d.v.String(), Accepted: d.accepted, Err: errors.New("out of range")}
		}
	}
	return nil
}

// throttle returns the login throttle's thresholds (validated settings).
func (c *Config) throttle() hub.ThrottleConfig {
	account, _ := strconv.Atoi(c.LoginAccountFailures)
	ip, _ := strconv.Atoi(c.LoginIPFailures)
	return hub.ThrottleConfig{AccountFree: account, IPFree: ip}
}

// httpLimits returns the HTTP server's limits (validated settings).
func (c *Config) httpLimits() hub.HTTPLimits {
	hdr, _ := strconv.Atoi(c.HTTPMaxHeaderBytes)
	return hub.HTTPLimits{HeaderTimeout: c.HTTPHeaderTimeout, ReadTimeout: c.HTTPReadTimeout,
		WriteTimeout: c.HTTPWriteTimeout, IdleTimeout: c.HTTPIdleTimeout, MaxHeaderBytes: hdr}
}

// mqttConnCaps returns the embedded broker's caps (validated settings).
func (c *Config) mqttConnCaps() (total, perIP int) {
	total, _ = strconv.Atoi(c.MQTTMaxConns)
	perIP, _ = strconv.Atoi(c.MQTTMaxConnsPerIP)
	return total, perIP
}

// httpConnCaps returns the HTTP listener's caps (validated settings).
func (c *Config) httpConnCaps() (total, perIP int) {
	total, _ = strconv.Atoi(c.HTTPMaxConns)
	perIP, _ = strconv.Atoi(c.HTTPMaxConnsPerIP)
	return total, perIP
}

func (c *Config) validateDevices() error {
	switch {
	case c.MQTTConnectTimeout < time.Second || c.MQTTConnectTimeout > 5*time.Minute:
		return &ConfigError{Setting: "mqtt-connect-timeout", Env: "COMMUNEHUB_MQTT_CONNECT_TIMEOUT", Value: c.MQTTConnectTimeout.String(), Accepted: "a duration 1s–5m", Err: errors.New("out of range")}
	case c.DeviceInterval < time.Second || c.DeviceInterval > time.Hour:
		return &ConfigError{Setting: "device-interval", Env: "COMMUNEHUB_DEVICE_INTERVAL", Value: c.DeviceInterval.String(), Accepted: "a duration 1s–1h", Err: errors.New("out of range")}
	case c.TelemetryRetention < 24*time.Hour:
		return &ConfigError{Setting: "telemetry-retention", Env: "COMMUNEHUB_TELEMETRY_RETENTION", Value: c.TelemetryRetention.String(), Accepted: "a duration ≥ 24h", Err: errors.New("too short")}
	case c.OutboxRetention < 10*time.Minute:
		return &ConfigError{Setting: "outbox-retention", Env: "COMMUNEHUB_OUTBOX_RETENTION", Value: c.OutboxRetention.String(), Accepted: "a duration ≥ 10m", Err: errors.New("too short")}
	case c.RollupRetention < c.TelemetryRetention:
		return &ConfigError{Setting: "rollup-retention", Env: "COMMUNEHUB_ROLLUP_RETENTION", Value: c.RollupRetention.String(), Accepted: "a duration ≥ the telemetry retention", Err: errors.New("shorter than the raw retention")}
	}
	return nil
}

func checkDisplayStale(v string) error {
	_, err := displays.ParseStale(v)
	return err
}

func checkKindIntervals(v string) error {
	_, err := devices.ParseKindIntervals(v)
	return err
}

// checkMQTTMaxPacket accepts a packet size from 1 KiB to 16 MiB.
func checkMQTTMaxPacket(v string) error {
	n, err := parseByteSize(v)
	if err == nil && (n < 1<<10 || n > 16<<20) {
		err = errors.New("out of range")
	}
	return err
}

// checkTopicPrefix accepts MQTT topic segments without wildcards, or "-".
func checkTopicPrefix(v string) error {
	if v == "-" || v == "" {
		return nil
	}
	if strings.ContainsAny(v, "#+") || strings.HasPrefix(v, "/") || strings.HasSuffix(v, "/") || strings.HasPrefix(v, "$") {
		return errors.New("must be topic segments without wildcards")
	}
	return nil
}

// OriginList returns the allowed websocket origins.
func (c *Config) OriginList() []string { return splitList(c.Origins) }

func nonEmpty(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("empty")
	}
	return nil
}

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		for _, a := range vals {
			if v == a {
				return nil
			}
		}
		return errors.New("unknown value")
	}
}

func checkHostPort(v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return errors.New("bad port")
	}
	return nil
}

func checkToken(v string) error {
	if len(v) < 16 || strings.ContainsAny(v, " \t\r\n") {
		return errors.New("too short or contains spaces")
	}
	return nil
}

func checkPostgresURL(v string) error {
	u, err := url.Parse(v)
	if err != nil {
		return err
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return errors.New("scheme must be postgres://")
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	return nil
}

func checkMQTTURL(v string) error {
	u, err := url.Parse(v)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	default:
		return errors.New("unknown scheme")
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	return nil
}

func checkOptionalHTTPURL(v string) error {
	u, err := url.Parse(v)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be http(s)://host[:port]")
	}
	return nil
}

func checkOrigins(v string) error {
	for _, o := range strings.Split(v, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if err := checkOptionalHTTPURL(o); err != nil {
			return fmt.Errorf("origin %q: %w", o, err)
		}
	}
	return nil
}

// checkIntRange accepts a decimal integer in [lo, hi].
func checkIntRange(lo, hi int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return errors.New("not an integer")
		}
		if n < lo || n > hi {
			return errors.New("out of range")
		}
		return nil
	}
}

func checkPort(v string) error {
	p, err := strconv.Atoi(v)
	if err != nil || p < 0 || p > 65535 {
		return errors.New("not a port")
	}
	return nil
}

func checkIPList(v string) error {
	for _, ip := range splitList(v) {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("%q is not an IP address", ip)
		}
	}
	return nil
}

func checkURLPrefix(prefixes ...string) func(string) error {
	return func(v string) error {
	next:
		for _, u := range splitList(v) {
			for _, p := range prefixes {
				if strings.HasPrefix(u, p) && len(u) > len(p) {
					continue next
				}
			}
			return fmt.Errorf("%q does not start with %s", u, strings.Join(prefixes, " or "))
		}
		return nil
	}
}

// splitList splits a comma-separated setting, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
