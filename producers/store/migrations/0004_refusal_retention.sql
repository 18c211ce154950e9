-- 0004: refused event bodies expire (REJECTED_TTL_S) and check-in refusals keep only the
-- newest REFUSALS_KEPT, as they did in Redis: a sender of refused messages must not be able
-- to grow the system of record without bound. The rejected rollout and its transition stay:
-- they are the record that the event was refused.
CREATE INDEX rejected_events_by_last_seen ON rejected_events (last_seen);
