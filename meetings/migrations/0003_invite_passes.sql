-- Package meetings, part 1 (media, issue 6): an invite link is used once.
--
-- The one request that sets meeting_invitees.invite_used_at (0001) — an
-- UPDATE … WHERE invite_used_at IS NULL, so of two at once exactly one wins —
-- opens a meeting pass: a credential for that invitee in that meeting only,
-- kept by the browser in an HttpOnly cookie and accepted by nothing but that
-- meeting's page, websocket and API (see guests.go). Only the SHA-256 of the
-- cookie value is stored. A pass ends 12 hours after the meeting's planned
-- end (its start when no end is planned), when the invitee is removed, or
-- when a new link is issued for the invitee.
CREATE TABLE meeting_passes (
    pass_hash  bytea PRIMARY KEY,
    meeting_id bigint NOT NULL REFERENCES meetings(id),
    invitee_id bigint NOT NULL REFERENCES meeting_invitees(id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX meeting_passes_invitee ON meeting_passes(invitee_id);

-- Removing an invitee also removes the tickets that would have admitted
-- them (before, a pending rejoin ticket made the removal fail).
ALTER TABLE meeting_media_tickets
    DROP CONSTRAINT meeting_media_tickets_invitee_id_fkey,
    ADD CONSTRAINT meeting_media_tickets_invitee_id_fkey
        FOREIGN KEY (invitee_id) REFERENCES meeting_invitees(id) ON DELETE CASCADE;
