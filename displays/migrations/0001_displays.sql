-- Wall displays: configuration, pairing codes, remote commands and the
-- fleet status written by whichever hub instance holds a screen's socket.

CREATE TABLE displays (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL,
    scope           text NOT NULL,            -- commune or province code
    layout          text NOT NULL CHECK (layout IN ('commune','province','meeting')),
    active_layout   text NOT NULL CHECK (active_layout IN ('commune','province','meeting')),
    classification  text NOT NULL CHECK (classification IN ('public','internal')),
    lang            text NOT NULL DEFAULT 'vi' CHECK (lang IN ('vi','en')),
    schedule        jsonb NOT NULL DEFAULT '[]',
    override_until  timestamptz,              -- a manual layout switch holds until then
    token_hash      bytea UNIQUE,             -- SHA-256 of the display token; NULL once revoked
    created_by      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);

-- A screen waiting to be paired: it shows code and holds the secret whose
-- hash becomes its token when an admin pairs it.
CREATE TABLE display_pairings (
    code        text PRIMARY KEY,
    secret_hash bytea NOT NULL UNIQUE,
    remote_ip   text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX display_pairings_expires ON display_pairings(expires_at);

CREATE TABLE display_commands (
    id          bigserial PRIMARY KEY,
    display_id  bigint NOT NULL REFERENCES displays(id) ON DELETE CASCADE,
    command     text NOT NULL CHECK (command IN ('reload','identify','layout')),
    args        jsonb,
    created_by  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    acked_at    timestamptz,
    ok          boolean,
    result      text NOT NULL DEFAULT ''
);
CREATE INDEX display_commands_display ON display_commands(display_id, id DESC);

-- What a screen last reported, written in batches by the instance holding
-- its socket; online turns false when the socket closes or when last_seen
-- is older than two heartbeats (an instance that died cannot say so).
CREATE TABLE display_status (
    display_id      bigint PRIMARY KEY REFERENCES displays(id) ON DELETE CASCADE,
    online          boolean NOT NULL DEFAULT false,
    instance        text NOT NULL DEFAULT '',
    conn_id         text NOT NULL DEFAULT '',  -- the socket the row describes; a late close of an older one is ignored
    connected_at    timestamptz,
    last_seen       timestamptz,
    remote_ip       text NOT NULL DEFAULT '',
    user_agent      text NOT NULL DEFAULT '',
    build           text NOT NULL DEFAULT '',
    rendered_seq    bigint NOT NULL DEFAULT 0,
    rendered_layout text NOT NULL DEFAULT '',
    rendered_topics jsonb NOT NULL DEFAULT '{}',
    rendered_at     timestamptz,
    js_heap         bigint NOT NULL DEFAULT 0,
    error_count     bigint NOT NULL DEFAULT 0,
    errors          jsonb NOT NULL DEFAULT '[]',
    uptime_seconds  double precision NOT NULL DEFAULT 0
);
