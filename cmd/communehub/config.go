package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/communehub/communehub/devices"
	"github.com/communehub/communehub/displays"
	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/meetings"
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
	LogLevel     slog.Level    // debug, info, warn or error
	Origins      []string      // allowed websocket origins; empty: same host
	SecureCookie bool          // mark the session cookie Secure (behind HTTPS)
	SessionTTL   time.Duration // idle lifetime of a login session
	InstanceID   string        // this hub instance's id (several hubs on one database)
	PublicURL    string        // how browsers reach this instance, e.g. http://10.0.0.5:8080
	// Notifications: escalation timeout, how long an event lasts before
	// anyone is told, how long it is gone before its recovery is sent.
	AlertsEscalateAfter, AlertsHold, AlertsRecoverAfter time.Duration

	// Operations endpoints (front.go): a bearer token for /metrics, and an
	// address of their own (/metrics, /healthz, /readyz), which takes
	// /metrics off the main port.
	MetricsToken, MetricsAddr string

	// Login throttling (hub.ThrottleConfig): failures of one account, and
	// from one address, before logins back off.
	LoginAccountFailures, LoginIPFailures int

	// HTTP connection limits (hub.HTTPLimits, hub.ListenOptions): slow
	// clients are cut, floods are capped.
	HTTPHeaderTimeout, HTTPReadTimeout, HTTPWriteTimeout, HTTPIdleTimeout time.Duration
	HTTPMaxHeaderBytes, HTTPMaxConns, HTTPMaxConnsPerIP                   int // bytes; connections (0: no cap)
	MQTTMaxConns, MQTTMaxConnsPerIP                                       int // the embedded broker's port (0: no cap)

	// HTTPS (tls.go): a certificate and key, or a self-signed certificate
	// the hub makes; either turns the Secure cookie flag on.
	TLSCert, TLSKey string
	TLSSelfSigned   bool

	MQTTTelegrafPrefix  string                   // topic prefix of Telegraf agents ("-" disables)
	MQTTSharedGroup     string                   // external broker: subscribe via $share/{group}/ so several hubs split the load
	MQTTMaxPacket       int64                    // embedded broker: largest packet after login, in bytes (set as e.g. 256KiB)
	DeviceMaxPerCommune int                      // devices one commune may have; a message from one more is rejected (too_many_devices)
	MQTTConnectTimeout  time.Duration            // embedded broker: a new connection must send its CONNECT within this
	MQTTSpoolMax        int64                    // embedded broker: bound of the spool of acknowledged telemetry, in bytes (e.g. 1GiB)
	MemoryLimit         int64                    // the Go runtime's soft memory limit (debug.SetMemoryLimit), in bytes; 0: none
	DeviceInterval      time.Duration            // default device reporting interval; offline after 3 missed
	DeviceKindIntervals map[string]time.Duration // per-kind reporting intervals (set as "camera=30s,ups=1m")
	TelemetryRetention  time.Duration            // raw telemetry kept
	RollupRetention     time.Duration            // hourly telemetry rollups kept
	OutboxRetention     time.Duration            // outbox rows kept (each topic's newest always)

	MeetingDocMax         int64         // largest meeting document upload, in bytes (set as e.g. 50MiB)
	MeetingDocTypes       []string      // allowed meeting document types (extensions)
	MeetingReconnectGrace time.Duration // a dropped participant is "reconnecting", not absent, this long

	BacklogDueSoonDays int // an open dossier or document is "due soon" within this many working days

	DisplayStale map[string]time.Duration // per topic kind, the age at which a wall tile turns stale (set as "devices=5m")

	// Meeting media (the SFU); see media.go.
	MediaUDPPort, MediaTCPPort   int      // one UDP port for all media; ICE-TCP fallback port (0: off)
	MediaListenIP                string   // bind address
	MediaPublicIPs               []string // public IPs (1:1 NAT)
	MediaSTUNURLs, MediaTURNURLs []string // stun:/turn: URLs given to browsers and the SFU
	MediaTURNUser, MediaTURNPass string
	MediaOwnerStale              time.Duration // how long a meeting's owner instance may miss heartbeats

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
		LogLevel:     slog.LevelInfo,
		SessionTTL:   12 * time.Hour,
		InstanceID:   host,

		AlertsEscalateAfter: 15 * time.Minute, AlertsHold: time.Minute, AlertsRecoverAfter: 2 * time.Minute,

		HTTPHeaderTimeout:  10 * time.Second,
		HTTPReadTimeout:    5 * time.Minute,
		HTTPWriteTimeout:   5 * time.Minute,
		HTTPIdleTimeout:    60 * time.Second,
		HTTPMaxHeaderBytes: 4096,
		HTTPMaxConns:       10000,
		HTTPMaxConnsPerIP:  256,
		MQTTMaxConns:       20000,
		MQTTMaxConnsPerIP:  0,

		LoginAccountFailures: 5,
		LoginIPFailures:      100,

		MQTTTelegrafPrefix:  "telegraf",
		MQTTMaxPacket:       256 << 10,
		MQTTConnectTimeout:  devices.DefaultConnectTimeout,
		MQTTSpoolMax:        1 << 30,
		MemoryLimit:         0,
		DeviceInterval:      10 * time.Second,
		DeviceMaxPerCommune: 2000,
		TelemetryRetention:  90 * 24 * time.Hour,
		OutboxRetention:     24 * time.Hour,
		RollupRetention:     2 * 365 * 24 * time.Hour,

		MeetingDocMax:         meetings.DefaultDocMaxBytes,
		MeetingDocTypes:       slices.Clone(meetings.DefaultDocTypes),
		MeetingReconnectGrace: time.Minute,

		BacklogDueSoonDays: 2,

		MediaUDPPort:    50000,
		MediaTCPPort:    50000,
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
	parse           func(string) error // checks a value and stores it, parsed, in the field (text, into)
	boolean         bool               // a bare --flag means true
	accepted        string             // what is accepted, for the error message
}

// text is the parse of a string field: check (nil: any) accepts the value
// as it is.
func text(p *string, check func(string) error) func(string) error {
	return func(v string) error {
		if check != nil {
			if err := check(v); err != nil {
				return err
			}
		}
		*p = v
		return nil
	}
}

// into is the parse of a typed field: parse reads the value, whose error
// says what is wrong with it.
func into[T any](p *T, parse func(string) (T, error)) func(string) error {
	return func(v string) error {
		x, err := parse(v)
		if err != nil {
			return err
		}
		*p = x
		return nil
	}
}

func (c *Config) settings() []setting {
	return []setting{
		{flag: "addr", env: "COMMUNEHUB_ADDR", parse: text(&c.Addr, checkHostPort), help: "HTTP listen address", accepted: "host:port, e.g. :8080"},
		{flag: "database-url", env: "COMMUNEHUB_DATABASE_URL", parse: text(&c.DatabaseURL, checkPostgresURL), help: "PostgreSQL URL (empty: local server or embedded)", accepted: "postgres://user[:pass]@host[:port]/db"},
		{flag: "mqtt-url", env: "COMMUNEHUB_MQTT_URL", parse: text(&c.MQTTURL, checkMQTTURL), help: "external MQTT broker (empty: use or run one on --mqtt-listen)", accepted: "tcp://host:port, mqtt://host:port or ssl://host:port"},
		{flag: "mqtt-listen", env: "COMMUNEHUB_MQTT_LISTEN", parse: text(&c.MQTTListen, checkHostPort), help: "embedded MQTT broker address", accepted: "host:port, e.g. 127.0.0.1:1883"},
		{flag: "mqtt-client-id", env: "COMMUNEHUB_MQTT_CLIENT_ID", parse: text(&c.MQTTClientID, nonEmpty), help: "client id for the external broker (default: communehub-HOST-RANDOM, made once and kept in DATA_DIR/mqtt-client-id); every hub needs its own", accepted: "a non-empty id"},
		{flag: "data-dir", env: "COMMUNEHUB_DATA_DIR", parse: text(&c.DataDir, nonEmpty), help: "data directory", accepted: "a directory path"},
		{flag: "demo", env: "COMMUNEHUB_DEMO", parse: into(&c.Demo, parseBool), boolean: true, help: "seed demo data and run simulators", accepted: "true or false"},
		{flag: "log-format", env: "COMMUNEHUB_LOG_FORMAT", parse: text(&c.LogFormat, oneOf("auto", "text", "json")), help: "log format", accepted: "auto, text or json"},
		{flag: "log-level", env: "COMMUNEHUB_LOG_LEVEL", parse: into(&c.LogLevel, parseLogLevel), help: "log level", accepted: "debug, info, warn or error"},
		{flag: "origins", env: "COMMUNEHUB_ORIGINS", parse: into(&c.Origins, parseOrigins), help: "allowed websocket origins, comma-separated (empty: same host)", accepted: "comma-separated http(s)://host[:port]"},
		{flag: "secure-cookie", env: "COMMUNEHUB_SECURE_COOKIE", parse: into(&c.SecureCookie, parseBool), boolean: true, help: "mark the session cookie Secure", accepted: "true or false"},
		{flag: "session-ttl", env: "COMMUNEHUB_SESSION_TTL", parse: into(&c.SessionTTL, parseDuration), help: "login session idle lifetime", accepted: "a duration ≥ 1m, e.g. 12h"},
		{flag: "instance-id", env: "COMMUNEHUB_INSTANCE_ID", parse: text(&c.InstanceID, nonEmpty), help: "this hub instance's id", accepted: "a non-empty id"},
		{flag: "public-url", env: "COMMUNEHUB_PUBLIC_URL", parse: text(&c.PublicURL, checkOptionalHTTPURL), help: "URL browsers use to reach this instance", accepted: "http(s)://host[:port]"},
		{flag: "alerts-escalate-after", env: "COMMUNEHUB_ALERTS_ESCALATE_AFTER", parse: into(&c.AlertsEscalateAfter, durationIn(time.Minute, 7*24*time.Hour)), help: "notifications: an alarm or incident unacknowledged this long is sent to the rule's next recipients (a rule may set its own)", accepted: "a duration 1m–168h, e.g. 15m"},
		{flag: "alerts-hold", env: "COMMUNEHUB_ALERTS_HOLD", parse: into(&c.AlertsHold, durationIn(0, time.Hour)), help: "notifications: an incident or alarm must last this long before anyone is told", accepted: "a duration 0–1h, e.g. 1m (0: at once)"},
		{flag: "alerts-recover-after", env: "COMMUNEHUB_ALERTS_RECOVER_AFTER", parse: into(&c.AlertsRecoverAfter, durationIn(time.Second, time.Hour)), help: "notifications: an incident gone this long is over and its recovery message is sent (back sooner, it is the same incident)", accepted: "a duration 1s–1h, e.g. 2m"},
		{flag: "metrics-token", env: "COMMUNEHUB_METRICS_TOKEN", parse: text(&c.MetricsToken, checkToken), help: "bearer token /metrics asks for (Authorization: Bearer TOKEN); empty: open", accepted: "at least 16 characters without spaces"},
		{flag: "metrics-addr", env: "COMMUNEHUB_METRICS_ADDR", parse: text(&c.MetricsAddr, checkHostPort), help: "serve /metrics, /healthz and /readyz on this address of their own (and no /metrics on --addr); empty: on --addr", accepted: "host:port, e.g. 127.0.0.1:9090"},
		{flag: "login-account-failures", env: "COMMUNEHUB_LOGIN_ACCOUNT_FAILURES", parse: into(&c.LoginAccountFailures, intBetween(1, 1000)), help: "failed logins of one account before it is locked (1 s, doubling to 15 min; 429 with Retry-After)", accepted: "an integer 1–1000"},
		{flag: "login-ip-failures", env: "COMMUNEHUB_LOGIN_IP_FAILURES", parse: into(&c.LoginIPFailures, intBetween(1, 1_000_000)), help: "failed logins from one address (IPv6: its /64) before it is locked; keep it high, a commune office logs in from behind one NAT", accepted: "an integer 1–1000000"},
		{flag: "http-header-timeout", env: "COMMUNEHUB_HTTP_HEADER_TIMEOUT", parse: into(&c.HTTPHeaderTimeout, parseDuration), help: "time a client has to send a request's header (from connecting, or from the first byte of a kept-alive request)", accepted: "a duration 1s–10m, e.g. 10s"},
		{flag: "http-read-timeout", env: "COMMUNEHUB_HTTP_READ_TIMEOUT", parse: into(&c.HTTPReadTimeout, parseDuration), help: "time a client has to send a request's body once the header is in", accepted: "a duration 1s–24h, e.g. 5m"},
		{flag: "http-write-timeout", env: "COMMUNEHUB_HTTP_WRITE_TIMEOUT", parse: into(&c.HTTPWriteTimeout, parseDuration), help: "time a response may take to be written", accepted: "a duration 1s–24h, e.g. 5m"},
		{flag: "http-idle-timeout", env: "COMMUNEHUB_HTTP_IDLE_TIMEOUT", parse: into(&c.HTTPIdleTimeout, parseDuration), help: "how long a kept-alive connection may wait for its next request", accepted: "a duration 1s–1h, e.g. 60s"},
		{flag: "http-max-header-bytes", env: "COMMUNEHUB_HTTP_MAX_HEADER_BYTES", parse: into(&c.HTTPMaxHeaderBytes, intBetween(1024, 1<<20)), help: "largest request line and headers (larger get 431); also the read buffer every websocket keeps", accepted: "an integer 1024–1048576 (bytes)"},
		{flag: "http-max-conns", env: "COMMUNEHUB_HTTP_MAX_CONNS", parse: into(&c.HTTPMaxConns, intBetween(0, 10_000_000)), help: "HTTP connections open at once (websockets included); more are closed at accept and counted", accepted: "an integer ≥ 0 (0: no cap)"},
		{flag: "http-max-conns-per-ip", env: "COMMUNEHUB_HTTP_MAX_CONNS_PER_IP", parse: into(&c.HTTPMaxConnsPerIP, intBetween(0, 10_000_000)), help: "HTTP connections open at once from one client IP", accepted: "an integer ≥ 0 (0: no cap)"},
		{flag: "mqtt-max-conns", env: "COMMUNEHUB_MQTT_MAX_CONNS", parse: into(&c.MQTTMaxConns, intBetween(0, 10_000_000)), help: "embedded broker: connections open at once; more are closed at accept and counted", accepted: "an integer ≥ 0 (0: no cap)"},
		{flag: "mqtt-max-conns-per-ip", env: "COMMUNEHUB_MQTT_MAX_CONNS_PER_IP", parse: into(&c.MQTTMaxConnsPerIP, intBetween(0, 10_000_000)), help: "embedded broker: connections open at once from one IP (devices behind one NAT share it)", accepted: "an integer ≥ 0 (0: no cap)"},
		{flag: "tls-cert", env: "COMMUNEHUB_TLS_CERT", parse: text(&c.TLSCert, nil), help: "serve HTTPS with this PEM certificate (chain) file; re-read when it changes", accepted: "a file path"},
		{flag: "tls-key", env: "COMMUNEHUB_TLS_KEY", parse: text(&c.TLSKey, nil), help: "the PEM private key of --tls-cert", accepted: "a file path"},
		{flag: "tls-self-signed", env: "COMMUNEHUB_TLS_SELF_SIGNED", parse: into(&c.TLSSelfSigned, parseBool), boolean: true, help: "serve HTTPS with a self-signed certificate the hub makes and keeps in the data dir", accepted: "true or false"},
		{flag: "mqtt-telegraf-prefix", env: "COMMUNEHUB_MQTT_TELEGRAF_PREFIX", parse: text(&c.MQTTTelegrafPrefix, checkTopicPrefix), help: "topic prefix of Telegraf agents: {prefix}/{commune}/{agent}/… (- disables)", accepted: "topic segments without wildcards, e.g. telegraf, or -"},
		{flag: "mqtt-shared-group", env: "COMMUNEHUB_MQTT_SHARED_GROUP", parse: text(&c.MQTTSharedGroup, checkTopicPrefix), help: "external broker: subscribe through $share/GROUP/ so several hubs split the load", accepted: "a group name without / + #"},
		{flag: "mqtt-max-packet", env: "COMMUNEHUB_MQTT_MAX_PACKET", parse: into(&c.MQTTMaxPacket, parseMQTTMaxPacket), help: "embedded broker: largest MQTT packet a logged-in client may send (a larger one closes its connection)", accepted: "a size from 1KiB to 16MiB, e.g. 256KiB"},
		{flag: "mqtt-connect-timeout", env: "COMMUNEHUB_MQTT_CONNECT_TIMEOUT", parse: into(&c.MQTTConnectTimeout, parseDuration), help: "embedded broker: a new connection that has not sent its whole CONNECT within this is closed", accepted: "a duration 1s–5m, e.g. 10s"},
		{flag: "memory-limit", env: "COMMUNEHUB_MEMORY_LIMIT", parse: into(&c.MemoryLimit, parseMemoryLimit), help: "soft limit of the hub's Go memory (heap and goroutine stacks): the garbage collector works harder near it (0: none; GOMEMLIMIT then applies)", accepted: "0, or a size from 32MiB to 1TiB, e.g. 160MiB"},
		{flag: "mqtt-spool-max", env: "COMMUNEHUB_MQTT_SPOOL_MAX", parse: into(&c.MQTTSpoolMax, parseSpoolSize), help: "embedded broker: largest size of the spool of acknowledged telemetry in the data dir (when full, devices get no PUBACK)", accepted: "a size from 16MiB to 1TiB, e.g. 1GiB or 512MiB"},
		{flag: "device-interval", env: "COMMUNEHUB_DEVICE_INTERVAL", parse: into(&c.DeviceInterval, parseDuration), help: "default device reporting interval (offline after 3 missed)", accepted: "a duration 1s–1h, e.g. 10s"},
		{flag: "device-max-per-commune", env: "COMMUNEHUB_DEVICE_MAX_PER_COMMUNE", parse: into(&c.DeviceMaxPerCommune, intBetween(1, 1_000_000)), help: "devices one commune may have; a message from one device more is rejected and counted (too_many_devices)", accepted: "an integer 1–1000000"},
		{flag: "device-kind-intervals", env: "COMMUNEHUB_DEVICE_KIND_INTERVALS", parse: into(&c.DeviceKindIntervals, devices.ParseKindIntervals), help: "reporting interval per device kind (a device's meta interval_s wins)", accepted: "kind=duration pairs, e.g. camera=30s,ups=1m (kinds: router, switch, ap, camera, pc, printer, ups, agent, other)"},
		{flag: "telemetry-retention", env: "COMMUNEHUB_TELEMETRY_RETENTION", parse: into(&c.TelemetryRetention, parseDuration), help: "how long raw telemetry is kept", accepted: "a duration ≥ 24h, e.g. 2160h (90 days)"},
		{flag: "outbox-retention", env: "COMMUNEHUB_OUTBOX_RETENTION", parse: into(&c.OutboxRetention, parseDuration), help: "how long outbox rows (the events handed between hub instances) are kept; each topic's newest is kept however old", accepted: "a duration ≥ 10m, e.g. 24h"},
		{flag: "rollup-retention", env: "COMMUNEHUB_ROLLUP_RETENTION", parse: into(&c.RollupRetention, parseDuration), help: "how long hourly telemetry rollups are kept", accepted: "a duration ≥ the telemetry retention, e.g. 17520h (2 years)"},
		{flag: "meeting-doc-max", env: "COMMUNEHUB_MEETING_DOC_MAX", parse: into(&c.MeetingDocMax, parseByteSize), help: "largest meeting document upload", accepted: "a size up to 256MiB, e.g. 50MiB, 512KiB or bytes"},
		{flag: "meeting-doc-types", env: "COMMUNEHUB_MEETING_DOC_TYPES", parse: into(&c.MeetingDocTypes, meetings.ParseDocTypes), help: "allowed meeting document types", accepted: "comma-separated: pdf, doc, docx, xls, xlsx, ppt, pptx, odt, ods, odp"},
		{flag: "meeting-reconnect-grace", env: "COMMUNEHUB_MEETING_RECONNECT_GRACE", parse: into(&c.MeetingReconnectGrace, parseDuration), help: "how long a participant whose link dropped stays \"reconnecting\" before being recorded as left", accepted: "a duration 5s–30m, e.g. 1m"},
		{flag: "backlog-due-soon-days", env: "COMMUNEHUB_BACKLOG_DUE_SOON_DAYS", parse: into(&c.BacklogDueSoonDays, intBetween(1, 30)), help: "working days before a deadline during which an open dossier or document counts as due soon", accepted: "an integer 1–30"},
		{flag: "display-stale", env: "COMMUNEHUB_DISPLAY_STALE", parse: into(&c.DisplayStale, displays.ParseStale), help: "age at which a wall tile turns stale, per topic kind (defaults: kpi, province_kpi, backlog 26h; devices 5m; meetings, meeting 0 = off)", accepted: "kind=duration pairs, e.g. devices=2m,kpi=0 (kinds: kpi, province_kpi, backlog, devices, meetings, meeting)"},
		{flag: "media-udp-port", env: "COMMUNEHUB_MEDIA_UDP_PORT", parse: into(&c.MediaUDPPort, parsePort), help: "the one UDP port all meeting media uses (ICE UDP mux)", accepted: "a port 0–65535 (0: any free port)"},
		{flag: "media-tcp-port", env: "COMMUNEHUB_MEDIA_TCP_PORT", parse: into(&c.MediaTCPPort, parsePort), help: "ICE-TCP fallback port for links that block UDP", accepted: "a port 0–65535 (0: no ICE-TCP)"},
		{flag: "media-listen-ip", env: "COMMUNEHUB_MEDIA_LISTEN_IP", parse: text(&c.MediaListenIP, checkIPList), help: "bind media sockets to this address (empty: all)", accepted: "an IP address"},
		{flag: "media-public-ips", env: "COMMUNEHUB_MEDIA_PUBLIC_IPS", parse: into(&c.MediaPublicIPs, parseIPList), help: "public IPs to advertise (server behind a 1:1 NAT)", accepted: "comma-separated IP addresses"},
		{flag: "media-stun-urls", env: "COMMUNEHUB_MEDIA_STUN_URLS", parse: into(&c.MediaSTUNURLs, urlList("stun:", "stuns:")), help: "STUN servers", accepted: "comma-separated stun:host[:port]"},
		{flag: "media-turn-urls", env: "COMMUNEHUB_MEDIA_TURN_URLS", parse: into(&c.MediaTURNURLs, urlList("turn:", "turns:")), help: "TURN servers (need user and password)", accepted: "comma-separated turn:host[:port][?transport=udp|tcp]"},
		{flag: "media-turn-username", env: "COMMUNEHUB_MEDIA_TURN_USERNAME", parse: text(&c.MediaTURNUser, nil), help: "TURN username", accepted: "a string"},
		{flag: "media-turn-password", env: "COMMUNEHUB_MEDIA_TURN_PASSWORD", parse: text(&c.MediaTURNPass, nil), help: "TURN password", accepted: "a string"},
		{flag: "media-owner-stale", env: "COMMUNEHUB_MEDIA_OWNER_STALE", parse: into(&c.MediaOwnerStale, parseDuration), help: "how long a meeting's owner instance may miss heartbeats before another takes over", accepted: "a duration ≥ 5s, e.g. 30s"},
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
		if err := s.parse(v); err != nil {
			return c, nil, &ConfigError{Setting: s.flag, Env: s.env, Value: v, Accepted: s.accepted, Err: err}
		}
		c.markGiven(s.env)
	}
	for _, s := range sets {
		fs.Func(s.flag, fmt.Sprintf("%s (env %s; %s)", s.help, s.env, s.accepted), func(v string) error {
			if err := s.parse(v); err != nil {
				flagErr = &ConfigError{Setting: s.flag, Env: s.env, Value: v, Accepted: s.accepted, Err: err}
				return flagErr
			}
			c.markGiven(s.env)
			return nil
		})
		if s.boolean {
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
		if s.boolean {
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

func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errors.New("not a boolean")
	}
	return b, nil
}

// durationIn parses a duration from lo to hi.
func durationIn(lo, hi time.Duration) func(string) (time.Duration, error) {
	return func(v string) (time.Duration, error) {
		d, err := parseDuration(v)
		if err == nil && (d < lo || d > hi) {
			err = fmt.Errorf("out of range")
		}
		return d, err
	}
}

func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New("not a duration")
	}
	return d, nil
}

// parseLogLevel accepts debug, info, warn or error.
func parseLogLevel(v string) (slog.Level, error) {
	var l slog.Level
	if err := oneOf("debug", "info", "warn", "error")(v); err != nil {
		return l, err
	}
	return l, l.UnmarshalText([]byte(v))
}

// Validate checks rules that span settings or bound values.
func (c *Config) Validate() error {
	if c.MediaOwnerStale < 5*time.Second {
		return &ConfigError{Setting: "media-owner-stale", Env: "COMMUNEHUB_MEDIA_OWNER_STALE", Value: c.MediaOwnerStale.String(), Accepted: "a duration ≥ 5s", Err: errors.New("too short")}
	}
	if len(c.MediaTURNURLs) > 0 && (c.MediaTURNUser == "" || c.MediaTURNPass == "") {
		return &ConfigError{Setting: "media-turn-urls", Env: "COMMUNEHUB_MEDIA_TURN_URLS", Value: strings.Join(c.MediaTURNURLs, ","), Accepted: "TURN URLs together with COMMUNEHUB_MEDIA_TURN_USERNAME and _PASSWORD", Err: errors.New("no TURN credentials")}
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

// throttle returns the login throttle's thresholds.
func (c *Config) throttle() hub.ThrottleConfig {
	return hub.ThrottleConfig{AccountFree: c.LoginAccountFailures, IPFree: c.LoginIPFailures}
}

// httpLimits returns the HTTP server's limits.
func (c *Config) httpLimits() hub.HTTPLimits {
	return hub.HTTPLimits{HeaderTimeout: c.HTTPHeaderTimeout, ReadTimeout: c.HTTPReadTimeout,
		WriteTimeout: c.HTTPWriteTimeout, IdleTimeout: c.HTTPIdleTimeout, MaxHeaderBytes: c.HTTPMaxHeaderBytes}
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

// parseMQTTMaxPacket accepts a packet size from 1 KiB to 16 MiB.
func parseMQTTMaxPacket(v string) (int64, error) {
	n, err := parseByteSize(v)
	if err == nil && (n < 1<<10 || n > 16<<20) {
		err = errors.New("out of range")
	}
	return n, err
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

// parseOrigins reads comma-separated http(s)://host[:port] origins.
func parseOrigins(v string) ([]string, error) {
	origins := splitList(v)
	for _, o := range origins {
		if err := checkOptionalHTTPURL(o); err != nil {
			return nil, fmt.Errorf("origin %q: %w", o, err)
		}
	}
	return origins, nil
}

// intBetween reads a decimal integer in [lo, hi].
func intBetween(lo, hi int) func(string) (int, error) {
	return func(v string) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return 0, errors.New("not an integer")
		}
		if n < lo || n > hi {
			return 0, errors.New("out of range")
		}
		return n, nil
	}
}

func parsePort(v string) (int, error) {
	p, err := strconv.Atoi(v)
	if err != nil || p < 0 || p > 65535 {
		return 0, errors.New("not a port")
	}
	return p, nil
}

// parseIPList reads comma-separated IP addresses.
func parseIPList(v string) ([]string, error) {
	ips := splitList(v)
	for _, ip := range ips {
		if net.ParseIP(ip) == nil {
			return nil, fmt.Errorf("%q is not an IP address", ip)
		}
	}
	return ips, nil
}

func checkIPList(v string) error { _, err := parseIPList(v); return err }

// urlList reads comma-separated URLs that start with one of prefixes.
func urlList(prefixes ...string) func(string) ([]string, error) {
	return func(v string) ([]string, error) {
		urls := splitList(v)
	next:
		for _, u := range urls {
			for _, p := range prefixes {
				if strings.HasPrefix(u, p) && len(u) > len(p) {
					continue next
				}
			}
			return nil, fmt.Errorf("%q does not start with %s", u, strings.Join(prefixes, " or "))
		}
		return urls, nil
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
