// Package alerts tells people what the hub knows: an incident or an alarm
// of a commune's LAN, a dossier turning overdue. It follows the topics the
// publishing features declared (the "devices" and "backlog" kinds) on the
// bus, keeps one row per incident or alarm while it lasts (alert_events),
// matches it against rules (commune, kind, severity, quiet hours in Vietnam
// time) and queues one message per recipient and phase (opened, escalated,
// recovered) in PostgreSQL, unique so that a restart or a re-sent snapshot
// never queues it twice. A sender sends the queue over the channels (email
// over SMTP, a signed webhook, Telegram, Zalo OA) with retries, exponential
// backoff and a per-channel rate limit: an outage or a restart delays a
// message and loses none.
//
// A message carries a signed one-time link that acknowledges the alarm
// without logging in; alerts acknowledges through the Acker it is given
// (the devices service implements it) and imports no other feature: it
// reads the payloads of the topics as their documentation describes them
// (docs/topics.md).
//
// It owns the tables alert_channels, alert_rules, alert_events,
// alert_queue, alert_keys and alert_used_links, the page /alerts and the
// routes under /api/v1/alerts.
package alerts
