-- At most one active alarm per device and rule, whichever hub instance
-- raised it: with several instances on one database each may see the same
-- crossing, and the second one's alarm must become the first one's. Older
-- duplicates (none are made by one instance) are cleared first.
UPDATE alarms a SET state = 'cleared', cleared_at = coalesce(a.cleared_at, now())
WHERE a.state <> 'cleared' AND EXISTS (
    SELECT 1 FROM alarms b
    WHERE b.unit = a.unit AND b.device = a.device AND b.rule_id IS NOT DISTINCT FROM a.rule_id
      AND b.state <> 'cleared' AND (b.raised_at, b.id) < (a.raised_at, a.id));
CREATE UNIQUE INDEX alarms_one_active ON alarms(unit, device, coalesce(rule_id, 0)) WHERE state <> 'cleared';
