package alerts

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/communehub/communehub/hub"
)

// Channel kinds.
const (
	KindEmail    = "email"
	KindWebhook  = "webhook"
	KindTelegram = "telegram"
	KindZalo     = "zalo"
)

// Event kinds a rule may name. The devices feature's incidents keep their
// kind; an alarm of the broker's dropped messages is broker_dropped.
const (
	EventDeviceDown     = "device_down"
	EventParentDown     = "parent_down"
	EventPowerCut       = "power_cut"
	EventAgentOffline   = "agent_offline"
	EventAlarm          = "alarm"
	EventBrokerDropped  = "broker_dropped"
	EventDossierOverdue = "dossier_overdue"
)

// EventKinds are the kinds a rule may name, in the page's order.
var EventKinds = []string{EventDeviceDown, EventParentDown, EventPowerCut, EventAgentOffline, EventAlarm, EventBrokerDropped, EventDossierOverdue}

// Severities, lowest first.
var Severities = []string{"info", "warning", "critical"}

func severityRank(s string) int { return slices.Index(Severities, s) }

// Phases of a notification.
const (
	PhaseOpened    = "opened"
	PhaseEscalated = "escalated"
	PhaseRecovered = "recovered"
	PhaseTest      = "test"
)

// Channel is where messages go: an SMTP server, a webhook, a Telegram bot
// or a Zalo Official Account. Config holds the kind's settings (see
// EmailConfig, WebhookConfig, TelegramConfig, ZaloConfig).
type Channel struct {
	ID         int64           `json:"id"`
	Name       string          `json:"name"`
	Kind       string          `json:"kind"`
	Config     json.RawMessage `json:"config"`
	RatePerMin int             `json:"rate_per_min"`
	Enabled    bool            `json:"enabled"`
}

// EmailConfig is an SMTP server. Security is "starttls" (default, port
// 587), "tls" (implicit TLS, port 465) or "none" (a relay on the LAN; the
// password is then refused unless the server is this machine).
type EmailConfig struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Security string `json:"security"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	From     string `json:"from"`
	// CAPEM adds a certificate authority (PEM) the server's certificate
	// may chain to, for a commune's own mail server.
	CAPEM string `json:"ca_pem,omitempty"`
}

// WebhookConfig is a generic webhook: the JSON body is signed with Secret
// (HMAC-SHA256 over "{timestamp}.{body}").
type WebhookConfig struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

// TelegramConfig is a Telegram bot; a recipient's address is its chat id.
type TelegramConfig struct {
	Token   string `json:"token"`
	BaseURL string `json:"base_url,omitempty"` // default https://api.telegram.org
}

// ZaloConfig is a Zalo Official Account; a recipient's address is the
// user id the account knows them by.
type ZaloConfig struct {
	AccessToken string `json:"access_token"`
	BaseURL     string `json:"base_url,omitempty"` // default https://openapi.zalo.me
}

// secretFields are the config fields the API never returns.
var secretFields = []string{"password", "secret", "token", "access_token"}

// ParseChannelConfig decodes and checks raw as the settings of kind; the
// error names the field (config.{field}). It returns the settings with
// their defaults filled in.
func ParseChannelConfig(kind string, raw []byte) (any, error) {
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	prefix := func(err error) error {
		if e, ok := err.(*hub.Error); ok && e.Field != "" {
			c := *e
			if !strings.HasPrefix(c.Field, "config") {
				c.Field = "config." + c.Field
			}
			return &c
		}
		return err
	}
	switch kind {
	case KindEmail:
		var c EmailConfig
		if err := hub.DecodeJSON(raw, &c); err != nil {
			return nil, prefix(err)
		}
		if c.Host == "" || strings.ContainsAny(c.Host, " /:@") && !strings.HasPrefix(c.Host, "[") {
			return nil, hub.FieldError("config.host", "must be the SMTP server's host name or address")
		}
		switch c.Security {
		case "":
			c.Security = "starttls"
		case "starttls", "tls", "none":
		default:
			return nil, hub.FieldError("config.security", "must be starttls, tls or none")
		}
		if c.Port == 0 {
			c.Port = map[string]int{"starttls": 587, "tls": 465, "none": 25}[c.Security]
		}
		if c.Port < 1 || c.Port > 65535 {
			return nil, hub.FieldError("config.port", "must be a port 1–65535")
		}
		if _, err := mail.ParseAddress(c.From); err != nil {
			return nil, hub.FieldError("config.from", "must be an email address")
		}
		if c.Password != "" && c.Username == "" {
			return nil, hub.FieldError("config.username", "is required with a password")
		}
		return c, nil
	case KindWebhook:
		var c WebhookConfig
		if err := hub.DecodeJSON(raw, &c); err != nil {
			return nil, prefix(err)
		}
		if err := checkHTTPURL(c.URL); err != nil {
			return nil, hub.FieldError("config.url", "%v", err)
		}
		if len(c.Secret) < 16 {
			return nil, hub.FieldError("config.secret", "must be at least 16 characters")
		}
		return c, nil
	case KindTelegram:
		var c TelegramConfig
		if err := hub.DecodeJSON(raw, &c); err != nil {
			return nil, prefix(err)
		}
		// A bot token is "{bot id}:{secret}".
		id, secret, ok := strings.Cut(c.Token, ":")
		if _, err := strconv.ParseUint(id, 10, 64); !ok || err != nil || secret == "" || strings.ContainsAny(c.Token, "/?# ") {
			return nil, hub.FieldError("config.token", "must be a bot token (123456:ABC…)")
		}
		if c.BaseURL == "" {
			c.BaseURL = "https://api.telegram.org"
		}
		if err := checkHTTPURL(c.BaseURL); err != nil {
			return nil, hub.FieldError("config.base_url", "%v", err)
		}
		return c, nil
	case KindZalo:
		var c ZaloConfig
		if err := hub.DecodeJSON(raw, &c); err != nil {
			return nil, prefix(err)
		}
		if c.AccessToken == "" || strings.ContainsAny(c.AccessToken, " \r\n") {
			return nil, hub.FieldError("config.access_token", "must be the Official Account's access token")
		}
		if c.BaseURL == "" {
			c.BaseURL = "https://openapi.zalo.me"
		}
		if err := checkHTTPURL(c.BaseURL); err != nil {
			return nil, hub.FieldError("config.base_url", "%v", err)
		}
		return c, nil
	}
	return nil, hub.FieldError("kind", "must be email, webhook, telegram or zalo")
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("must be an http(s)://host/… URL")
	}
	return nil
}

// checkAddress checks a recipient's address for the channel kind.
func checkAddress(kind, to string) error {
	switch kind {
	case KindEmail:
		a, err := mail.ParseAddress(to)
		if err != nil || a.Name != "" {
			return fmt.Errorf("must be an email address")
		}
	case KindWebhook:
		if to != "" {
			return fmt.Errorf("must be empty for a webhook (its URL is the channel's)")
		}
	case KindTelegram:
		if _, err := strconv.ParseInt(strings.TrimPrefix(to, "@"), 10, 64); err != nil && !strings.HasPrefix(to, "@") || len(to) < 2 || len(to) > 64 {
			return fmt.Errorf("must be a chat id (a number) or @channel")
		}
	case KindZalo:
		if _, err := strconv.ParseUint(to, 10, 64); err != nil {
			return fmt.Errorf("must be the Zalo user id (digits)")
		}
	}
	return nil
}

// Recipient is one person (or group) a rule notifies over a channel.
// Level 0 gets a new event; level 1 gets its escalation (and level 0 again
// when the rule has no level 1).
type Recipient struct {
	Channel int64  `json:"channel"`
	To      string `json:"to"`
	Level   int    `json:"level"`
	// Name is who the address is ("Nguyễn Văn A"), shown where the hub
	// says who was notified; optional.
	Name string `json:"name,omitempty"`
}

// Rule says who gets what: the events of Unit ("" every commune) of one of
// Kinds (empty: every kind) at MinSeverity or above, outside the quiet
// hours (Vietnam time) unless critical.
type Rule struct {
	ID            int64       `json:"id"`
	Name          string      `json:"name"`
	Unit          string      `json:"unit"`
	Kinds         []string    `json:"kinds"`
	MinSeverity   string      `json:"min_severity"`
	Recipients    []Recipient `json:"recipients"`
	EscalateAfter int         `json:"escalate_after_s"` // 0: the service's default
	QuietFrom     string      `json:"quiet_from"`       // "22:00"; "" none
	QuietTo       string      `json:"quiet_to"`         // "06:00"
	Enabled       bool        `json:"enabled"`
}

// validate checks r; channels are the known channels by id.
func (r *Rule) validate(channels map[int64]Channel) error {
	r.Name = strings.TrimSpace(r.Name)
	if r.Name == "" || len(r.Name) > 200 {
		return hub.FieldError("name", "is required (at most 200 bytes)")
	}
	if r.Unit != "" && (len(r.Unit) != 5 || strings.Trim(r.Unit, "0123456789") != "") {
		return hub.FieldError("unit", "must be a 5-digit commune code or empty (every commune)")
	}
	for _, k := range r.Kinds {
		if !slices.Contains(EventKinds, k) {
			return hub.FieldError("kinds", "unknown kind %q; kinds: %s", k, strings.Join(EventKinds, ", "))
		}
	}
	if r.MinSeverity == "" {
		r.MinSeverity = "warning"
	}
	if severityRank(r.MinSeverity) < 0 {
		return hub.FieldError("min_severity", "must be info, warning or critical")
	}
	if len(r.Recipients) == 0 || len(r.Recipients) > 50 {
		return hub.FieldError("recipients", "1 to 50 recipients")
	}
	for i, rc := range r.Recipients {
		f := fmt.Sprintf("recipients[%d]", i)
		ch, ok := channels[rc.Channel]
		if !ok {
			return hub.FieldError(f+".channel", "no channel %d", rc.Channel)
		}
		if err := checkAddress(ch.Kind, rc.To); err != nil {
			return hub.FieldError(f+".to", "%v", err)
		}
		r.Recipients[i].Name = strings.TrimSpace(rc.Name)
		if len(r.Recipients[i].Name) > 100 || strings.ContainsAny(rc.Name, "\r\n") {
			return hub.FieldError(f+".name", "at most 100 bytes on one line")
		}
		if rc.Level < 0 || rc.Level > 1 {
			return hub.FieldError(f+".level", "must be 0 (first told) or 1 (escalation)")
		}
	}
	if r.EscalateAfter < 0 || r.EscalateAfter > 7*24*3600 {
		return hub.FieldError("escalate_after_s", "must be 0 (default) to 604800 seconds")
	}
	if (r.QuietFrom == "") != (r.QuietTo == "") {
		return hub.FieldError("quiet_to", "quiet hours need both quiet_from and quiet_to")
	}
	if r.QuietFrom != "" {
		if _, err := clockMinutes(r.QuietFrom); err != nil {
			return hub.FieldError("quiet_from", "%v", err)
		}
		if _, err := clockMinutes(r.QuietTo); err != nil {
			return hub.FieldError("quiet_to", "%v", err)
		}
	}
	return nil
}

// clockMinutes parses "HH:MM" into minutes after midnight.
func clockMinutes(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, fmt.Errorf("must be a time HH:MM, e.g. 22:00")
	}
	return t.Hour()*60 + t.Minute(), nil
}

// vietnam is UTC+7 all year (no daylight saving).
var vietnam = time.FixedZone("ICT", 7*3600)

// quietUntil returns when r's quiet hours end if now is within them, else
// the zero time.
func (r *Rule) quietUntil(now time.Time) time.Time {
	if r.QuietFrom == "" {
		return time.Time{}
	}
	from, _ := clockMinutes(r.QuietFrom)
	to, _ := clockMinutes(r.QuietTo)
	if from == to {
		return time.Time{}
	}
	local := now.In(vietnam)
	m := local.Hour()*60 + local.Minute()
	midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, vietnam)
	switch {
	case from < to && m >= from && m < to: // 12:00–13:30
		return midnight.Add(time.Duration(to) * time.Minute)
	case from > to && m >= from: // 22:00–06:00, before midnight
		return midnight.AddDate(0, 0, 1).Add(time.Duration(to) * time.Minute)
	case from > to && m < to: // after midnight
		return midnight.Add(time.Duration(to) * time.Minute)
	}
	return time.Time{}
}

// matches reports whether r wants ev.
func (r *Rule) matches(ev Event) bool {
	if !r.Enabled || (r.Unit != "" && r.Unit != ev.Unit) {
		return false
	}
	if len(r.Kinds) > 0 && !slices.Contains(r.Kinds, ev.Kind) {
		return false
	}
	return severityRank(ev.Severity) >= severityRank(r.MinSeverity)
}

// Event is one thing people are told about while it lasts: an incident,
// an alarm, an overdue dossier.
type Event struct {
	Source     string    `json:"source"` // incident:{unit}:{root device}, alarm:{id}, dossier:{unit}:{code}
	Occurrence int       `json:"occurrence"`
	Unit       string    `json:"unit"`
	Kind       string    `json:"kind"`
	Severity   string    `json:"severity"`
	Title      string    `json:"title"`
	TitleEN    string    `json:"title_en"`
	AlarmID    string    `json:"alarm_id,omitempty"`
	Since      time.Time `json:"since"`
	Acked      bool      `json:"acked"`
}

// key names one occurrence of the event: the queue's and the links' source.
func (ev Event) key() string { return ev.Source + "#" + strconv.Itoa(ev.Occurrence) }

// ackable reports whether a link may acknowledge ev (and whether it
// escalates): incidents and alarms, not dossiers.
func (ev Event) ackable() bool { return ev.Kind != EventDossierOverdue }
