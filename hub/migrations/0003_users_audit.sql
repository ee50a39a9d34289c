-- A user's commune scope: the code of the administrative unit (commune or
-- province) they work for; '' for the whole hub.
ALTER TABLE users ADD COLUMN scope text NOT NULL DEFAULT '';

-- The audit log of user and token administration: who did what to whom,
-- when and from which address. Append-only: the trigger below refuses every
-- UPDATE, DELETE and TRUNCATE. Names are copied, not referenced, so that an
-- entry outlives the accounts it names. details never holds a secret.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    bigint,                      -- users.id or api_tokens.id (actor_kind says which); NULL for the command line
    actor       text NOT NULL,               -- username, token name, or 'cli'
    actor_kind  text NOT NULL CHECK (actor_kind IN ('user','token','cli')),
    action      text NOT NULL,               -- user.add, user.disable, user.role, … (hub/audit.go)
    target_id   bigint,
    target      text NOT NULL DEFAULT '',
    details     jsonb NOT NULL DEFAULT '{}',
    ip          text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_target ON audit_log(target_id, id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
