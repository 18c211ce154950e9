-- 0007: the controller signs each rendered state as its revision is published
-- (contracts.controller_signatures, `provision-state-v1`). The signature is kept next to
-- the state, append-only like it; an agent verifies it with the controller's public key,
-- so a state edited here (or a signature swapped) is refused where it would be applied.
-- States published before this migration have no row: they are refused as unsigned until
-- a new revision is published.
CREATE TABLE rendered_signatures (
    revision  integer NOT NULL,
    target    text NOT NULL,
    key_id    text NOT NULL CHECK (key_id ~ '^ed25519:[0-9a-f]{16}$'),
    signature text NOT NULL CHECK (signature ~ '^[A-Za-z0-9+/]{86}==$'),
    PRIMARY KEY (revision, target),
    FOREIGN KEY (revision, target) REFERENCES rendered_states (revision, target)
);

CREATE TRIGGER rendered_signatures_append_only BEFORE UPDATE OR DELETE ON rendered_signatures
    FOR EACH ROW EXECUTE FUNCTION provision_append_only();
CREATE TRIGGER rendered_signatures_no_truncate BEFORE TRUNCATE ON rendered_signatures
    FOR EACH STATEMENT EXECUTE FUNCTION provision_append_only();
