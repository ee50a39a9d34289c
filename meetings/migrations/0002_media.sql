-- Package meetings, part 1 (media, issue 6): which hub instance carries a
-- meeting's media, and one-time tickets that move a participant to it.

-- A meeting's SFU room lives on one instance. The instance that first gets
-- a participant claims the meeting; it refreshes heartbeat_at while the room
-- is open and deletes the row when the room empties. A row whose heartbeat
-- is older than the takeover interval (see sfu_owner.go) may be claimed by
-- another instance (the owner crashed).
CREATE TABLE meeting_media_owner (
    meeting_id   bigint PRIMARY KEY REFERENCES meetings(id),
    instance_id  text NOT NULL,
    base_url     text NOT NULL,               -- where participants are sent, e.g. https://hub2.example:8080
    claimed_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX meeting_media_owner_instance ON meeting_media_owner(instance_id);

-- One-time tickets: a participant admitted on one instance and sent to the
-- owner carries a ticket instead of credentials (the owner may be another
-- host name, where the session cookie is not sent). Only the SHA-256 of the
-- ticket is stored; it is deleted when used and expires after a minute.
CREATE TABLE meeting_media_tickets (
    ticket_hash bytea PRIMARY KEY,
    meeting_id  bigint NOT NULL REFERENCES meetings(id),
    invitee_id  bigint NOT NULL REFERENCES meeting_invitees(id),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX meeting_media_tickets_expiry ON meeting_media_tickets(expires_at);
