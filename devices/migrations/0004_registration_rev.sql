-- A technician's adopt or ignore, made through one hub instance, must
-- reach the others and must not be undone by their stale copy of the row:
-- reg_rev numbers those changes; every instance reads the rows changed
-- since the last it saw, and a state write never overwrites the
-- registration of a row with a newer reg_rev than its own copy.
CREATE SEQUENCE devices_reg_rev;
ALTER TABLE devices ADD COLUMN reg_rev bigint NOT NULL DEFAULT 0;
CREATE INDEX devices_by_reg_rev ON devices(reg_rev) WHERE reg_rev > 0;
