-- 0005: check-ins are signed, not authorised by a bearer token. An enrollment keeps the
-- agent's Ed25519 public key (32 bytes, base64url); the token digests go: a check-in no
-- longer carries a token, so an agent enrolled before this migration is refused until it is
-- enrolled again (its row stays, public_key NULL, so the refusal can say so).
ALTER TABLE enrollments DROP COLUMN token_sha256;
ALTER TABLE enrollments ADD COLUMN public_key text
    CHECK (public_key ~ '^[A-Za-z0-9_-]{43}$');

-- Each admitted check-in's nonce, until its sent_at leaves the window (CHECKIN_WINDOW_S):
-- a captured check-in replayed within the window finds its nonce here and is refused.
-- Kept in PostgreSQL, not Redis: Redis may be emptied at any moment (and must not be
-- trusted), and one empty nonce cache would let every check-in captured in the last
-- window be replayed. Only check-ins whose proof verified are written, so its size is
-- bounded by the admission rate times the window.
CREATE TABLE checkin_nonces (
    target     text NOT NULL,
    nonce      text NOT NULL CHECK (nonce ~ '^[A-Za-z0-9_-]{22,64}$'),
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (target, nonce)
);
CREATE INDEX checkin_nonces_by_expiry ON checkin_nonces (expires_at);
