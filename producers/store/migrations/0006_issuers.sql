-- 0006: change events are signed. Issuers registered directly (where no source of truth
-- is used; issuers.yaml in a revision holds the others), their keys, revocations, and the
-- digest of every accepted event's bytes, so other bytes under a seen event_id are refused
-- as replayed while the same bytes again stay a no-op.
CREATE TABLE issuers (
    name       text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,99}$'),
    scope_json text NOT NULL,  -- a contracts.issuers.Scope
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- A key registered here, or only revoked here (a key of issuers.yaml revoked at once,
-- before the reviewed commit that removes it): `public_key` NULL then.
CREATE TABLE issuer_keys (
    key_id     text PRIMARY KEY CHECK (key_id ~ '^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,99}$'),
    issuer     text NOT NULL CHECK (length(issuer) <= 100),
    public_key text CHECK (length(public_key) <= 4096),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    revoked_at timestamptz
);
CREATE INDEX issuer_keys_by_issuer ON issuer_keys (issuer);

-- Only events whose signature verified are written: the table grows with accepted
-- events, like the rollouts they start.
CREATE TABLE seen_events (
    event_id text PRIMARY KEY CHECK (length(event_id) <= 100),
    digest   text NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
    issuer   text NOT NULL CHECK (length(issuer) <= 100),
    seen_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
