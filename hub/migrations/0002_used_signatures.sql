-- Signatures of signed-token requests, each kept while its X-Timestamp is
-- still acceptable (SignatureSkew), so that a request is admitted once on
-- whichever instance receives it. Expired rows are deleted by the instances.
CREATE TABLE used_signatures (
    mac        bytea PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX used_signatures_expires ON used_signatures(expires_at);
