-- Notifications (alerts): where they go (channels), who gets what (rules),
-- what happened (alert_events: one row per incident, alarm or overdue
-- dossier while it lasts) and the queue of messages to send.

CREATE TABLE alert_channels (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    kind        text NOT NULL CHECK (kind IN ('email', 'webhook', 'telegram', 'zalo')),
    config      jsonb NOT NULL DEFAULT '{}',
    rate_per_min int NOT NULL DEFAULT 30 CHECK (rate_per_min BETWEEN 1 AND 10000),
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alert_rules (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL,
    unit            text NOT NULL DEFAULT '',          -- '' every commune
    kinds           text[] NOT NULL DEFAULT '{}',      -- empty: every kind
    min_severity    text NOT NULL DEFAULT 'warning' CHECK (min_severity IN ('info', 'warning', 'critical')),
    recipients      jsonb NOT NULL DEFAULT '[]',       -- [{"channel":id,"to":"…","level":0}]
    escalate_after_s int NOT NULL DEFAULT 0,           -- 0: the service's default
    quiet_from      text NOT NULL DEFAULT '',          -- "22:00" Vietnam time; '' none
    quiet_to        text NOT NULL DEFAULT '',
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alert_events (
    source       text PRIMARY KEY,                     -- incident:{unit}:{root device}, alarm:{id}, dossier:{unit}:{code}
    occurrence   int NOT NULL DEFAULT 1,               -- bumped when a closed event comes back: a new notification
    unit         text NOT NULL,
    kind         text NOT NULL,
    severity     text NOT NULL,
    title        text NOT NULL,
    title_en     text NOT NULL DEFAULT '',
    alarm_id     text NOT NULL DEFAULT '',
    since        timestamptz NOT NULL,
    first_seen   timestamptz NOT NULL DEFAULT now(),
    seen_at      timestamptz NOT NULL DEFAULT now(),
    notified_at  timestamptz,
    escalated_at timestamptz,
    acked_at     timestamptz,
    acked_by     text NOT NULL DEFAULT '',
    gone_at      timestamptz,                          -- left the snapshots; closed after Config.RecoverAfter
    closed_at    timestamptz
);
CREATE INDEX alert_events_open ON alert_events (unit) WHERE closed_at IS NULL;

CREATE TABLE alert_queue (
    id          bigserial PRIMARY KEY,
    source      text NOT NULL,                         -- {event source}#{occurrence}, or test:…
    phase       text NOT NULL CHECK (phase IN ('opened', 'escalated', 'recovered', 'test')),
    channel_id  bigint NOT NULL REFERENCES alert_channels(id) ON DELETE CASCADE,
    address     text NOT NULL DEFAULT '',
    rule_id     bigint,
    subject     text NOT NULL,
    body        text NOT NULL,
    payload     jsonb NOT NULL DEFAULT '{}',
    state       text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'failed')),
    attempts    int NOT NULL DEFAULT 0,
    next_at     timestamptz NOT NULL DEFAULT now(),
    last_error  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    -- A restart or a re-sent event never queues the same message twice.
    UNIQUE (source, phase, channel_id, address)
);
CREATE INDEX alert_queue_due ON alert_queue (next_at) WHERE state = 'queued';

-- The hub key the signed acknowledgement links are made with, shared by
-- every instance on the database; used links are kept until they expire.
CREATE TABLE alert_keys (
    id  int PRIMARY KEY CHECK (id = 1),
    key bytea NOT NULL
);
CREATE TABLE alert_used_links (
    mac        bytea PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
