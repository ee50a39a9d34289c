-- Package meetings, part 3 (issue 14): signed minutes sign the whole record.
--
-- record is the exact message the hub signed for communehub-minutes-v2
-- minutes (docs/minutes-format.md): the RFC 8785 canonical JSON of every
-- member of the served document but its signature — meeting, unit, title,
-- times, revision, approver, text, key. It is written once, with the
-- approval, and the freeze trigger (0001) keeps it. Minutes approved before
-- have no record: they stay communehub-minutes-v1 (the text's SHA-256 is
-- what was signed).
ALTER TABLE meeting_minutes ADD COLUMN record bytea;
