-- 0002: the audit trail. Append-only, and a chain: each row holds the hash of the row
-- before it, so removing or editing a row breaks every hash after it. `prev_hash` is
-- unique, so the chain can never fork either.

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL,
    actor       text NOT NULL CHECK (length(actor) <= 200),
    action      text NOT NULL CHECK (length(action) <= 200),
    subject     text NOT NULL CHECK (length(subject) <= 400),
    detail_json text NOT NULL,  -- canonical JSON: the exact text the hash covers
    prev_hash   text NOT NULL UNIQUE CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    hash        text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$')
);

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION provision_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION provision_append_only();
