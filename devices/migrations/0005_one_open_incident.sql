-- At most one open incident per failure root (a power cut apart), whichever
-- hub instance opened it: two instances that saw the same status can put
-- the incident's start either side of a second, which is in its id. The
-- second insert is then a no-op and that instance adopts the stored one.
-- Older duplicates (none are made by one instance) are closed first.
UPDATE incidents a SET closed_at = now()
WHERE a.closed_at IS NULL AND EXISTS (
    SELECT 1 FROM incidents b
    WHERE b.unit = a.unit AND b.root_device = a.root_device AND (b.kind = 'power_cut') = (a.kind = 'power_cut')
      AND b.closed_at IS NULL AND (b.opened_at, b.id) < (a.opened_at, a.id));
CREATE UNIQUE INDEX incidents_one_open ON incidents(unit, root_device, (kind = 'power_cut')) WHERE closed_at IS NULL;
