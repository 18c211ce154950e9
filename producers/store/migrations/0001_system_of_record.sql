-- 0001: the system of record: everything the control plane must never forget.
-- Text columns hold what our contracts validated; the repositories bound their lengths and
-- take NUL characters out (PostgreSQL text cannot hold them), so a hostile value is stored
-- as harmless text instead of failing a whole batch.

-- Tables whose rows are facts: once written, never changed nor removed.
CREATE FUNCTION provision_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % is refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- The source of truth: numbered, immutable revisions, with the exact bytes of each
-- target's rendered state, so push and pull ship the very same bytes.
CREATE TABLE revisions (
    sequence     integer PRIMARY KEY CHECK (sequence >= 1),
    content_hash text NOT NULL CHECK (content_hash ~ '^sha256:[0-9a-f]{64}$'),
    author       text NOT NULL,
    message      text NOT NULL,
    created_at   timestamptz NOT NULL,
    bundle       text NOT NULL  -- the validated SourceBundle, canonical JSON
);

CREATE TABLE rendered_states (
    revision integer NOT NULL REFERENCES revisions,
    target   text NOT NULL,
    state    bytea NOT NULL,  -- canonical bytes of the RenderedState
    PRIMARY KEY (revision, target)
);

-- The inventory: every target the control plane may select.
CREATE TABLE targets (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$'),
    region      text NOT NULL,
    environment text NOT NULL,
    delivery    text NOT NULL CHECK (delivery IN ('push', 'pull')),
    target_json text NOT NULL,  -- the validated Target
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Pull agents' identities: only the token's sha256, never the token.
CREATE TABLE enrollments (
    target       text PRIMARY KEY,
    token_sha256 text NOT NULL CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    enrolled_at  timestamptz NOT NULL
);

-- Which revision each target should be at (moves only forward), and which it applied.
CREATE TABLE assigned_revisions (
    target      text PRIMARY KEY,
    revision    integer NOT NULL REFERENCES revisions,
    change_id   text NOT NULL,
    assigned_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE applied_revisions (
    target     text PRIMARY KEY,
    revision   integer NOT NULL CHECK (revision >= 1),  -- as reported by an outcome
    change_id  text NOT NULL,
    event_id   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The ledger: every change and the targets it was published to.
CREATE TABLE changes (
    change_id text PRIMARY KEY,
    issued_by text NOT NULL,
    issued_at timestamptz NOT NULL,
    dry_run   boolean NOT NULL DEFAULT false,
    opened_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE change_targets (
    change_id text NOT NULL REFERENCES changes ON DELETE CASCADE,
    target    text NOT NULL,
    position  integer NOT NULL,
    PRIMARY KEY (change_id, target)
);

-- Every outcome ever received, append-only. The order of a target's outcomes is what the
-- system observed: the request's per-target sequence, then the aggregator's receive time.
-- finished_at is the sender's clock: kept for display, never used to order.
CREATE TABLE outcomes (
    id          bigserial PRIMARY KEY,
    event_id    text NOT NULL UNIQUE,  -- a duplicate changes nothing
    change_id   text NOT NULL,
    target      text NOT NULL,
    sequence    bigint CHECK (sequence >= 0),  -- NULL: an unfenced request
    status      text NOT NULL CHECK (status IN ('pending', 'changed', 'converged', 'drifted',
                    'failed', 'rejected', 'not_ready', 'superseded')),
    revision    integer,
    delivery    text NOT NULL CHECK (delivery IN ('push', 'pull')),
    dry_run     boolean NOT NULL,
    drift       boolean NOT NULL,
    attempts    integer NOT NULL CHECK (attempts >= 1),
    worker      text NOT NULL,
    trace_id    text,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    event_json  text NOT NULL  -- the validated OutcomeEvent
);
-- Both in the order of NEWEST_FIRST (producers/store/outcomes.py), so "the current outcome"
-- is the first index entry, not a sort.
CREATE INDEX outcomes_by_change
    ON outcomes (change_id, target, sequence DESC NULLS LAST, received_at DESC, id DESC);
CREATE INDEX outcomes_by_target
    ON outcomes (target, sequence DESC NULLS LAST, received_at DESC, id DESC);
CREATE INDEX outcomes_failures ON outcomes (received_at)
    WHERE status IN ('failed', 'rejected', 'not_ready');

-- Rollouts: the plan (waves and their targets), the state, and every transition.
CREATE TABLE rollouts (
    rollout_id   text PRIMARY KEY,
    state        text NOT NULL CHECK (state IN ('planned', 'running', 'paused', 'halted',
                     'completed', 'aborted', 'rejected')),
    reason       text NOT NULL DEFAULT '',
    wave         integer NOT NULL DEFAULT 0 CHECK (wave >= 0),
    event_json   text,  -- the validated ChangeEvent; NULL for a rejected one
    issued_by    text,
    revision     integer,
    trace        jsonb NOT NULL DEFAULT '{}',
    next_wave_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE rollout_waves (
    rollout_id   text NOT NULL REFERENCES rollouts,
    wave         integer NOT NULL CHECK (wave >= 0),
    max_failures integer NOT NULL CHECK (max_failures >= 0),
    PRIMARY KEY (rollout_id, wave)
);

CREATE TABLE rollout_targets (
    rollout_id   text NOT NULL,
    target       text NOT NULL,
    wave         integer NOT NULL,
    position     integer NOT NULL,
    target_json  text NOT NULL,  -- the Target as selected when the rollout was planned
    published_at timestamptz,    -- NULL until its request is published; never twice
    PRIMARY KEY (rollout_id, target),
    FOREIGN KEY (rollout_id, wave) REFERENCES rollout_waves
);

CREATE TABLE rollout_transitions (
    id         bigserial PRIMARY KEY,
    rollout_id text NOT NULL REFERENCES rollouts,
    from_state text,  -- NULL for the rollout's first state
    to_state   text NOT NULL,
    reason     text NOT NULL,
    at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX rollout_transitions_by_rollout ON rollout_transitions (rollout_id, id);

-- Compliance history: every observation of a target, append-only. `kind` says what it
-- may move: an outcome sets the state; a superseded outcome or a bare check-in only
-- proves the target alive.
CREATE TABLE compliance_observations (
    id          bigserial PRIMARY KEY,
    target      text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('outcome', 'superseded', 'checkin')),
    state       text CHECK (state IN ('aligned', 'drifted', 'failed', 'excepted')),
    revision    integer,
    delivery    text CHECK (delivery IN ('push', 'pull')),
    change_id   text,
    differed    text[] NOT NULL DEFAULT '{}',
    interval_s  double precision CHECK (interval_s > 0),
    observed_at timestamptz NOT NULL,  -- the target's own clock: shown, never used to order
    received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK ((kind = 'outcome') = (state IS NOT NULL))
);
CREATE INDEX compliance_by_target ON compliance_observations (target, received_at, id);

-- Check-ins the desk refused: who claimed to be whom, and why.
CREATE TABLE checkin_refusals (
    id     bigserial PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    target text CHECK (length(target) <= 100),
    reason text NOT NULL CHECK (length(reason) <= 4000)
);
CREATE INDEX checkin_refusals_by_time ON checkin_refusals (at);

-- Events refused at intake, one row per distinct body (by digest), with how often.
CREATE TABLE rejected_events (
    digest     text PRIMARY KEY CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
    event_id   text CHECK (length(event_id) <= 100),  -- the id it claimed, if readable
    source     text NOT NULL CHECK (length(source) <= 200),
    reason     text NOT NULL CHECK (length(reason) <= 4000),
    excerpt    text NOT NULL CHECK (length(excerpt) <= 1000),
    size       integer NOT NULL CHECK (size >= 0),
    times      integer NOT NULL DEFAULT 1 CHECK (times >= 1),
    first_seen timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_seen  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TRIGGER revisions_append_only BEFORE UPDATE OR DELETE ON revisions
    FOR EACH ROW EXECUTE FUNCTION provision_append_only();
CREATE TRIGGER rendered_states_append_only BEFORE UPDATE OR DELETE ON rendered_states
    FOR EACH ROW EXECUTE FUNCTION provision_append_only();
CREATE TRIGGER outcomes_append_only BEFORE UPDATE OR DELETE ON outcomes
    FOR EACH ROW EXECUTE FUNCTION provision_append_only();
CREATE TRIGGER rollout_transitions_append_only BEFORE UPDATE OR DELETE ON rollout_transitions
    FOR EACH ROW EXECUTE FUNCTION provision_append_only();
CREATE TRIGGER compliance_append_only BEFORE UPDATE OR DELETE ON compliance_observations
    FOR EACH ROW EXECUTE FUNCTION provision_append_only();
CREATE TRIGGER revisions_no_truncate BEFORE TRUNCATE ON revisions
    FOR EACH STATEMENT EXECUTE FUNCTION provision_append_only();
CREATE TRIGGER rendered_states_no_truncate BEFORE TRUNCATE ON rendered_states
    FOR EACH STATEMENT EXECUTE FUNCTION provision_append_only();
CREATE TRIGGER outcomes_no_truncate BEFORE TRUNCATE ON outcomes
    FOR EACH STATEMENT EXECUTE FUNCTION provision_append_only();
CREATE TRIGGER rollout_transitions_no_truncate BEFORE TRUNCATE ON rollout_transitions
    FOR EACH STATEMENT EXECUTE FUNCTION provision_append_only();
CREATE TRIGGER compliance_no_truncate BEFORE TRUNCATE ON compliance_observations
    FOR EACH STATEMENT EXECUTE FUNCTION provision_append_only();
