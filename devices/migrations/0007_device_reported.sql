-- What a device last said of itself on its status topic (its birth or its
-- last will) and when: after a restart, a device whose will said
-- "offline" is offline until it says otherwise, not "online" because its
-- last telemetry is recent.
ALTER TABLE devices ADD COLUMN reported text NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN reported_at timestamptz;
