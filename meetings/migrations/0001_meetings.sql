-- Package meetings, part 2 (proceedings, issue 7) — the core records every
-- other part of meetings builds on.
--
-- NOTE to the media/signaling side (issue 6: meetings/sfu*, signal*, page*):
-- these are THE meeting and invitee tables; please build on them. Add what you
-- need (e.g. the hub instance that owns a meeting's media) in a NEW file with
-- the next free number (0002_…, 0003_…: look at this folder first) instead of
-- editing this one — a migration that has run is never changed.
-- Access to /ws/meetings/{id}: meetings.Records.InviteeForUser(meeting, user)
-- and InviteeForToken(meeting, token) (records.go) resolve an invitee from a
-- session or a one-time invite link (invite_hash = SHA-256 of the token).
-- Messages of the types agenda.*, doc.*, hand.*, floor.*, vote.*,
-- attendance.*, minutes.*, meeting.* and proc.* belong to
-- meetings.Proceedings.Handle (proceedings.go); see docs/meeting-protocol.md.

CREATE TABLE meetings (
    id          bigserial PRIMARY KEY,
    unit_code   text NOT NULL,                 -- commune or province code (admin_units.code)
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz,                   -- planned end, optional
    location    text NOT NULL DEFAULT '',      -- the hall, e.g. "Hội trường UBND xã"
    online      boolean NOT NULL DEFAULT true, -- also held online
    seats       int NOT NULL CHECK (seats BETWEEN 1 AND 1000), -- seats counted for quorum and votes
    quorum_rule text NOT NULL DEFAULT 'two_thirds_of_seats',
    pass_rule   text NOT NULL DEFAULT 'majority_of_seats',
    state       text NOT NULL DEFAULT 'scheduled' CHECK (state IN ('scheduled','open','closed','cancelled')),
    opened_at   timestamptz,
    closed_at   timestamptz,
    last_seq    bigint NOT NULL DEFAULT 0,     -- last meeting_events.seq; the row lock serialises appends
    created_by  bigint REFERENCES users(id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX meetings_unit_start ON meetings(unit_code, starts_at);

-- Invitees: users of the hub, or guests without an account who join with a
-- one-time invite link. Chair and member hold seats and vote; guests speak;
-- observers only watch. At most one chair and one secretary per meeting.
CREATE TABLE meeting_invitees (
    id             bigserial PRIMARY KEY,
    meeting_id     bigint NOT NULL REFERENCES meetings(id),
    user_id        bigint REFERENCES users(id) ON DELETE SET NULL,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    position       text NOT NULL DEFAULT '',   -- e.g. "Phó Chủ tịch UBND xã"
    role           text NOT NULL CHECK (role IN ('chair','member','guest','observer')),
    secretary      boolean NOT NULL DEFAULT false,
    invite_hash    bytea UNIQUE,               -- SHA-256 of a one-time invite token
    invite_used_at timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (meeting_id, user_id)
);
CREATE UNIQUE INDEX meeting_invitees_one_chair ON meeting_invitees(meeting_id) WHERE role = 'chair';
CREATE UNIQUE INDEX meeting_invitees_one_secretary ON meeting_invitees(meeting_id) WHERE secretary;
CREATE INDEX meeting_invitees_user ON meeting_invitees(user_id);

CREATE TABLE agenda_items (
    id         bigserial PRIMARY KEY,
    meeting_id bigint NOT NULL REFERENCES meetings(id),
    position   int NOT NULL,
    title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
    presenter  text NOT NULL DEFAULT '',
    notes      text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (meeting_id, position) DEFERRABLE INITIALLY DEFERRED
);

-- Documents per agenda item; every upload is a new version. Content lives in
-- the data dir, addressed by its SHA-256.
CREATE TABLE meeting_documents (
    id         bigserial PRIMARY KEY,
    meeting_id bigint NOT NULL REFERENCES meetings(id),
    item_id    bigint REFERENCES agenda_items(id),
    title      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX meeting_documents_meeting ON meeting_documents(meeting_id);

CREATE TABLE meeting_document_versions (
    document_id  bigint NOT NULL REFERENCES meeting_documents(id),
    version      int NOT NULL,
    filename     text NOT NULL,
    content_type text NOT NULL,
    size         bigint NOT NULL,
    sha256       bytea NOT NULL,
    pages        int,                          -- PDF page count when known
    uploaded_by  bigint REFERENCES users(id) ON DELETE SET NULL,
    uploaded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (document_id, version)
);

-- The meeting's event log: everything that happens in a meeting, in order.
-- Append-only (the trigger refuses UPDATE, DELETE and TRUNCATE); replaying it
-- rebuilds the proceedings. Secret ballots never appear here with a choice.
CREATE TABLE meeting_events (
    meeting_id bigint NOT NULL REFERENCES meetings(id),
    seq        bigint NOT NULL,
    at         timestamptz NOT NULL,
    kind       text NOT NULL,
    actor      bigint,                         -- meeting_invitees.id; null: the hub itself
    data       jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (meeting_id, seq)
);

CREATE FUNCTION meetings_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER meeting_events_append_only BEFORE UPDATE OR DELETE ON meeting_events
    FOR EACH ROW EXECUTE FUNCTION meetings_refuse_change();
CREATE TRIGGER meeting_events_no_truncate BEFORE TRUNCATE ON meeting_events
    FOR EACH STATEMENT EXECUTE FUNCTION meetings_refuse_change();

-- Votes. A named vote's ballots are rows of vote_ballots. A secret vote has
-- no ballot rows: the choice only increments the tallies of its votes row
-- (hidden until closing) and the voter only enters vote_voters, which records
-- neither the choice nor the time, so after closing no row links a voter to
-- a choice. vote_voters' primary key is the one-vote-per-member guarantee.
CREATE TABLE votes (
    id         bigserial PRIMARY KEY,
    meeting_id bigint NOT NULL REFERENCES meetings(id),
    item_id    bigint REFERENCES agenda_items(id),
    question   text NOT NULL CHECK (length(question) BETWEEN 1 AND 1000),
    secret     boolean NOT NULL,
    pass_rule  text NOT NULL,
    state      text NOT NULL CHECK (state IN ('open','closed')),
    seats      int NOT NULL,
    present    int NOT NULL,                   -- members present when opened, then when closed
    yes        int NOT NULL DEFAULT 0,
    no         int NOT NULL DEFAULT 0,
    abstain    int NOT NULL DEFAULT 0,
    passed     boolean,
    opened_by  bigint NOT NULL,                -- invitee id of the chair
    opened_at  timestamptz NOT NULL,
    closed_at  timestamptz
);
CREATE UNIQUE INDEX votes_one_open ON votes(meeting_id) WHERE state = 'open';

CREATE TABLE vote_voters (
    vote_id    bigint NOT NULL REFERENCES votes(id),
    invitee_id bigint NOT NULL REFERENCES meeting_invitees(id),
    PRIMARY KEY (vote_id, invitee_id)
);

CREATE TABLE vote_ballots (
    vote_id    bigint NOT NULL,
    invitee_id bigint NOT NULL,
    choice     text NOT NULL CHECK (choice IN ('yes','no','abstain')),
    cast_at    timestamptz NOT NULL,
    PRIMARY KEY (vote_id, invitee_id),
    FOREIGN KEY (vote_id, invitee_id) REFERENCES vote_voters(vote_id, invitee_id)
);

-- Minutes: drafted, edited by the secretary (each edit a revision), approved
-- by the chair and then frozen — the trigger refuses any change to approved
-- minutes. sha256 is the digest of the final text, signature its Ed25519
-- signature by the key key_id (signing_keys).
CREATE TABLE meeting_minutes (
    meeting_id  bigint PRIMARY KEY REFERENCES meetings(id),
    state       text NOT NULL CHECK (state IN ('draft','approved')),
    text        text NOT NULL,
    revision    int NOT NULL,
    updated_by  bigint,                        -- invitee id; null: drafted by the hub
    updated_at  timestamptz NOT NULL,
    approved_by bigint,
    approved_at timestamptz,
    sha256      bytea,
    signature   bytea,
    key_id      text
);

CREATE TABLE meeting_minutes_revisions (
    meeting_id bigint NOT NULL REFERENCES meetings(id),
    revision   int NOT NULL,
    text       text NOT NULL,
    author     bigint,
    at         timestamptz NOT NULL,
    PRIMARY KEY (meeting_id, revision)
);
CREATE TRIGGER meeting_minutes_revisions_append_only BEFORE UPDATE OR DELETE ON meeting_minutes_revisions
    FOR EACH ROW EXECUTE FUNCTION meetings_refuse_change();

CREATE FUNCTION meeting_minutes_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state = 'approved' THEN
        RAISE EXCEPTION 'minutes of meeting % are approved and frozen', OLD.meeting_id USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER meeting_minutes_freeze BEFORE UPDATE OR DELETE ON meeting_minutes
    FOR EACH ROW EXECUTE FUNCTION meeting_minutes_frozen();

-- Public halves of every hub instance's Ed25519 signing key, so that any
-- instance can verify minutes another one signed.
CREATE TABLE signing_keys (
    key_id     text PRIMARY KEY,               -- first 16 hex digits of SHA-256(public key)
    public_key bytea NOT NULL,
    instance   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
