-- Kernel tables: users, sessions, API tokens, the event outbox, admin units.

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    display_name  text NOT NULL DEFAULT '',
    role          text NOT NULL CHECK (role IN ('admin','officer','technician','viewer')),
    password_hash text NOT NULL,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Session cookies: only the SHA-256 of the cookie value is stored.
CREATE TABLE sessions (
    token_hash  bytea PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_user ON sessions(user_id);

-- Bearer tokens for upstream systems and scripts, stored hashed; the
-- optional HMAC secret makes X-Signature mandatory for that token.
CREATE TABLE api_tokens (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin','officer','technician','viewer')),
    token_hash  bytea NOT NULL UNIQUE,
    hmac_secret text,
    created_by  bigint REFERENCES users(id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_used   timestamptz,
    revoked_at  timestamptz
);

-- Outbox: an event written in the same transaction as the change that
-- caused it. topic_seq is the per-topic sequence number every hub instance
-- publishes it with; instances follow the table by id (NOTIFY carries the
-- whole row, or only its id when the row is too large: hub/outbox.go).
CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    topic      text NOT NULL,
    topic_seq  bigint NOT NULL,
    data       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, topic_seq)
);
CREATE INDEX outbox_created ON outbox(created_at);

CREATE TABLE outbox_topic_seq (
    topic text PRIMARY KEY,
    seq   bigint NOT NULL
);

-- Administrative units, dated: a code can be reused by a successor unit,
-- so the key is (code, valid_from).
CREATE TABLE admin_units (
    id          serial PRIMARY KEY,
    code        text NOT NULL,
    name        text NOT NULL,
    level       text NOT NULL CHECK (level IN ('province','commune')),
    kind        text NOT NULL,
    parent_code text,
    valid_from  date NOT NULL,
    valid_to    date,
    UNIQUE (code, valid_from)
);
CREATE INDEX admin_units_parent ON admin_units(parent_code) WHERE valid_to IS NULL;

CREATE TABLE admin_unit_lineage (
    new_code     text NOT NULL,
    new_name     text NOT NULL,
    old_code     text NOT NULL,
    old_name     text NOT NULL,
    whole        boolean NOT NULL,
    old_district text NOT NULL DEFAULT '',
    old_province text NOT NULL DEFAULT '',
    effective    date NOT NULL,
    PRIMARY KEY (new_code, old_code, old_name)
);
CREATE INDEX admin_unit_lineage_old ON admin_unit_lineage(old_code);
