-- Every change of a device's status, with why (the parent that failed, the
-- last will, the silence), for the device page's history. A change into
-- "unknown" is the hub not knowing (a restart, its broker link), not news
-- about the device, and is not recorded. With several hub instances on one
-- database each sees the same change: a row whose status is the device's
-- latest recorded one is not written again (see history_store.go).
CREATE TABLE device_status_changes (
    id          bigserial PRIMARY KEY,
    unit        text NOT NULL,
    device      text NOT NULL,
    at          timestamptz NOT NULL,
    from_status text NOT NULL,
    to_status   text NOT NULL,
    reason      text NOT NULL DEFAULT ''
);
CREATE INDEX device_status_changes_device ON device_status_changes(unit, device, at DESC);
CREATE INDEX device_status_changes_at ON device_status_changes(at);
