-- Devices of commune office LANs, their telemetry (partitioned by month,
-- with hourly rollups), incidents, alarms, maintenance windows and the
-- embedded broker's credentials.

CREATE TABLE devices (
    unit         text NOT NULL,
    id           text NOT NULL,
    name         text NOT NULL DEFAULT '',
    kind         text NOT NULL DEFAULT 'other',
    ip           text NOT NULL DEFAULT '',
    mac          text NOT NULL DEFAULT '',
    location     text NOT NULL DEFAULT '',
    parent       text NOT NULL DEFAULT '',
    interval_s   int  NOT NULL DEFAULT 0,
    registration text NOT NULL DEFAULT 'unregistered'
                 CHECK (registration IN ('registered','unregistered','ignored')),
    agent        text NOT NULL DEFAULT '',
    status       text NOT NULL DEFAULT 'unknown',
    last_seen    timestamptz,
    metrics      jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (unit, id)
);
CREATE INDEX devices_ip ON devices(unit, ip) WHERE ip <> '';

-- One row per device per message (per Telegraf measurement): metrics is a
-- flat object of numbers. The unique key makes a QoS 1 redelivery a no-op.
CREATE TABLE telemetry (
    unit    text NOT NULL,
    device  text NOT NULL,
    ts      timestamptz NOT NULL,
    source  text NOT NULL,
    metrics jsonb NOT NULL
) PARTITION BY RANGE (ts);
CREATE UNIQUE INDEX telemetry_key ON telemetry(unit, device, ts, source);

-- Hourly rollups kept for two years; charts over long ranges read these.
CREATE TABLE telemetry_hourly (
    unit   text NOT NULL,
    device text NOT NULL,
    metric text NOT NULL,
    hour   timestamptz NOT NULL,
    n      int NOT NULL,
    sum    double precision NOT NULL,
    min    double precision NOT NULL,
    max    double precision NOT NULL,
    PRIMARY KEY (unit, device, metric, hour)
);
CREATE INDEX telemetry_hourly_hour ON telemetry_hourly(hour);

CREATE TABLE telemetry_rollup (
    id         int PRIMARY KEY CHECK (id = 1),
    done_until timestamptz NOT NULL
);

CREATE TABLE incidents (
    id          text PRIMARY KEY,
    unit        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('device_down','parent_down','power_cut','agent_offline')),
    title       text NOT NULL,
    root_device text NOT NULL,
    affected    int NOT NULL DEFAULT 0,
    ups_minutes double precision,
    opened_at   timestamptz NOT NULL,
    closed_at   timestamptz
);
CREATE INDEX incidents_unit ON incidents(unit, opened_at DESC);
CREATE INDEX incidents_open ON incidents(unit) WHERE closed_at IS NULL;

-- Alarm rules apply to a device, else to a kind, else to everything
-- (unit NULL = every commune); the most specific rule per metric wins.
CREATE TABLE alarm_rules (
    id              bigserial PRIMARY KEY,
    unit            text,
    device          text,
    kind            text,
    metric          text NOT NULL,
    op              text NOT NULL CHECK (op IN ('>','<')),
    threshold       double precision NOT NULL,
    clear_threshold double precision NOT NULL,
    for_s           int NOT NULL DEFAULT 0 CHECK (for_s >= 0),
    severity        text NOT NULL CHECK (severity IN ('critical','major','minor','warning')),
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);

INSERT INTO alarm_rules(kind, metric, op, threshold, clear_threshold, for_s, severity) VALUES
    (NULL,  'latency_ms',  '>', 150, 100, 60, 'warning'),
    (NULL,  'loss_pct',    '>', 20,  5,   60, 'major'),
    (NULL,  'cpu_pct',     '>', 90,  75,  300, 'minor'),
    (NULL,  'temp_c',      '>', 70,  60,  120, 'major'),
    ('ups', 'battery_pct', '<', 30,  40,  0,  'critical');

CREATE TABLE alarms (
    id          text PRIMARY KEY,
    unit        text NOT NULL,
    device      text NOT NULL,
    rule_id     bigint,
    metric      text NOT NULL,
    severity    text NOT NULL,
    state       text NOT NULL CHECK (state IN ('active_unack','active_ack','cleared')),
    value       double precision NOT NULL,
    raised_at   timestamptz NOT NULL,
    cleared_at  timestamptz,
    acked_by    text,
    acked_at    timestamptz,
    ack_comment text
);
CREATE INDEX alarms_unit ON alarms(unit, raised_at DESC);

CREATE TABLE maintenance_windows (
    id         bigserial PRIMARY KEY,
    unit       text NOT NULL,
    device     text,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL CHECK (ends_at > starts_at),
    reason     text NOT NULL DEFAULT '',
    created_by text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Credentials of the embedded broker: per device (device set) or per
-- commune (device NULL). Only the SHA-256 of the random secret is stored.
CREATE TABLE device_credentials (
    id          bigserial PRIMARY KEY,
    unit        text NOT NULL,
    device      text,
    username    text NOT NULL UNIQUE,
    secret_hash bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
