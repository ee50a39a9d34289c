-- With a shared MQTT group each hub instance receives only its share of the
-- telemetry: every instance writes here, about once a second, when it last
-- heard from each device (and its latest values), and reads what the
-- others wrote, so that all of them agree on which devices are alive.
-- rev orders the changes: a reader asks for the rows changed after the
-- last one it has seen.
CREATE SEQUENCE device_seen_rev;
CREATE TABLE device_seen (
    unit      text NOT NULL,
    device    text NOT NULL,
    instance  text NOT NULL,
    last_seen timestamptz NOT NULL,
    ping_down boolean NOT NULL DEFAULT false,
    metrics   jsonb NOT NULL DEFAULT '{}',
    rev       bigint NOT NULL DEFAULT nextval('device_seen_rev'),
    PRIMARY KEY (unit, device)
);
CREATE INDEX device_seen_by_rev ON device_seen(rev);
