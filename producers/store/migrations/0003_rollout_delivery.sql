-- 0003: what a rollout still has to deliver; finding refused events and active rollouts.
--
-- A rollout's `event_json` is kept redacted (a digest and a size stand in for sensitive
-- content). An inline rollout without a revision has nowhere else to take the real
-- content from for its later waves, so `delivered_resources` holds it (a DesiredState's
-- JSON) while the rollout may still publish, and only then: the CHECK makes it impossible
-- to keep it once the rollout is halted, completed, aborted or rejected.
ALTER TABLE rollouts ADD COLUMN delivered_resources text;
ALTER TABLE rollouts ADD CONSTRAINT rollouts_deliver_only_while_active
    CHECK (delivered_resources IS NULL OR state IN ('planned', 'running', 'paused'));

-- `provision rollout status ID` of a rejected event shows its digest, size and excerpt.
CREATE INDEX rejected_events_by_event_id ON rejected_events (event_id, last_seen)
    WHERE event_id IS NOT NULL;

-- A controller asks for the rollouts it drives on every tick: only those, however many
-- finished or rejected ones the table holds.
CREATE INDEX rollouts_active ON rollouts (created_at)
    WHERE state IN ('planned', 'running', 'paused');
