"""Who may do what to which table of the system of record: one login role per process role.

Found in the code, not guessed (`producers/store/*.py`, and who calls each):

* `controller` (`provision controller`: rollouts, the check-in desk): plans and books
  rollouts (`store/rollouts.py`), opens changes (`store/changes.py` via the ledger), records
  event layers as revisions (`truth/revisions.py` `record_layer`), assigns revisions
  (`store/assignments.py`), verifies check-ins (`store/enrollments.py`: spends nonces,
  forgets expired ones), records refusals and rejected events (`store/refusals.py`) and
  check-in observations (`store/compliance.py`); reads the inventory, outcomes (wave counts)
  and applied revisions; verifies change events against issuers and their keys, remembers
  the digests of accepted events (`store/issuers.py`) and appends `event.*` to the audit
  trail.
* `aggregator` (`provision aggregator`): appends outcomes, their compliance observations and
  the revisions they applied (`records/batches.py`); reads the target's region (rollout
  targets, inventory) to check who sent an outcome and records refused ones.
* `operator` (the CLI): reads everything (`status`, `rollout status`, `oncall`, `agents`);
  publishes revisions (`state publish`), loads the inventory (`inventory load`), enrolls
  agents (`enroll`), steers rollouts (`rollout pause|resume|cancel`), registers and revokes
  issuers' keys (`provision keys`) and appends to the audit trail.
* `worker`, `emitter`, `agent`: no database, so no login role.

Append-only tables (`audit_log`, `outcomes`, `revisions`, `rendered_states`,
`rendered_signatures`, `rollout_transitions`, `compliance_observations`) get no UPDATE,
DELETE or TRUNCATE for anyone: their triggers refuse those too, but a role should not
even hold the right.
Migrations (`provision db migrate`) and these grants are the administrator's, who owns the
tables; no role here may create anything.
"""

from __future__ import annotations

#: The privileges a grant may name (no TRUNCATE, REFERENCES or TRIGGER for anyone).
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
#: Tables whose rows are never changed or removed once written.
APPEND_ONLY = (
    "audit_log",
    "outcomes",
    "revisions",
    "rendered_states",
    "rendered_signatures",
    "rollout_transitions",
    "compliance_observations",
)
#: Tables with a `bigserial` id: inserting takes the sequence's next value (USAGE on it).
SERIAL = {
    t: f"{t}_id_seq"
    for t in (
        "audit_log",
        "checkin_refusals",
        "compliance_observations",
        "outcomes",
        "rollout_transitions",
    )
}

R = ("SELECT",)
RI = ("SELECT", "INSERT")
RIU = ("SELECT", "INSERT", "UPDATE")
RID = ("SELECT", "INSERT", "DELETE")
RIUD = ("SELECT", "INSERT", "UPDATE", "DELETE")

CONTROLLER: dict[str, tuple[str, ...]] = {
    "schema_migrations": R,
    "revisions": RI,
    "rendered_states": RI,
    "rendered_signatures": RI,
    "targets": R,
    "enrollments": R,
    "checkin_nonces": RID,
    "assigned_revisions": RIU,
    "applied_revisions": R,
    "changes": RIU,
    "change_targets": RID,
    "outcomes": R,
    "rollouts": RIU,
    "rollout_waves": RI,
    "rollout_targets": RIU,
    "rollout_transitions": RI,
    "compliance_observations": RI,
    "checkin_refusals": RID,
    "rejected_events": RIUD,
    "issuers": R,
    "issuer_keys": R,
    "seen_events": RI,
    "audit_log": RI,
}

AGGREGATOR: dict[str, tuple[str, ...]] = {
    "schema_migrations": R,
    "outcomes": RI,
    "compliance_observations": RI,
    "applied_revisions": RIU,
    # Who may speak for a target: its region from the rollout, else the inventory; a refused
    # outcome is recorded as a refusal (records/senders.py).
    "rollout_targets": R,
    "targets": R,
    "checkin_refusals": RI,
}

OPERATOR: dict[str, tuple[str, ...]] = {
    "schema_migrations": R,
    "revisions": RI,
    "rendered_states": RI,
    "rendered_signatures": RI,
    "targets": RIUD,
    "enrollments": RIU,
    "checkin_nonces": R,
    "assigned_revisions": R,
    "applied_revisions": R,
    "changes": R,
    "change_targets": R,
    "outcomes": R,
    "rollouts": ("SELECT", "UPDATE"),
    "rollout_waves": R,
    "rollout_targets": R,
    "rollout_transitions": RI,
    "compliance_observations": R,
    "checkin_refusals": R,
    "rejected_events": R,
    "issuers": RIU,
    "issuer_keys": RIU,
    "seen_events": R,
    "audit_log": RI,
}

#: Role name (broker_config.permissions.ROLES) -> table -> privileges. Absent: no login.
GRANTS: dict[str, dict[str, tuple[str, ...]]] = {
    "controller": CONTROLLER,
    "aggregator": AGGREGATOR,
    "operator": OPERATOR,
}


def grants_of(role: str) -> dict[str, tuple[str, ...]]:
    """A role's table privileges; empty for a role without a database login."""
    return GRANTS.get(role, {})


def sequences_of(role: str) -> list[str]:
    """The id sequences a role takes values from: those of the tables it inserts into."""
    return sorted(SERIAL[t] for t, p in grants_of(role).items() if "INSERT" in p and t in SERIAL)
