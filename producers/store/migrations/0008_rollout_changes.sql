-- Every change to a rollout's row is announced on the channel `provision_rollouts` (its id
-- as the payload), delivered at commit: a controller reads the active rollouts' heads again
-- only when one of them may have moved (an operator's pause, resume or abort, a new
-- rollout, a wave advanced), instead of querying them on every drive.
CREATE FUNCTION provision_announce_rollout() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('provision_rollouts', NEW.rollout_id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER rollout_changes
AFTER INSERT OR UPDATE ON rollouts
FOR EACH ROW EXECUTE FUNCTION provision_announce_rollout();
