"""The chaos run's records check: what PostgreSQL held before the faults, it holds after.

Before the first fault the run writes records of every kind the control plane must never
lose (revisions with rendered states, enrollments, a rollout with its plan and transitions)
through the repositories the services use, and snapshots them with the outcomes recorded
so far. After the faults and the settle it reads everything again: an id present before
must be present after with the same content (a digest of its rows), and every request of
the run that took effect must have its outcome recorded. `records_lost` counts both.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime

import psycopg

from contracts import Target
from contracts.events import RolloutState
from producers.store import enrollments, revisions, rollouts

#: kind -> the query giving (id, content) for every record of that kind. The content is
#: every column that must not change, joined with the rows that belong to the record.
QUERIES = {
    "revisions": """
        SELECT r.sequence::text, concat_ws('|', r.content_hash, r.author, r.message,
               r.created_at, r.bundle,
               (SELECT string_agg(s.target || '=' || md5(s.state), ',' ORDER BY s.target)
                FROM rendered_states s WHERE s.revision = r.sequence))
        FROM revisions r""",
    "enrollments": """
        SELECT target, concat_ws('|', public_key, enrolled_at) FROM enrollments""",
    "rollouts": """
        SELECT r.rollout_id, concat_ws('|', r.event_json, r.issued_by, r.revision, r.created_at,
               (SELECT string_agg(w.wave || ':' || w.max_failures, ',' ORDER BY w.wave)
                FROM rollout_waves w WHERE w.rollout_id = r.rollout_id),
               (SELECT string_agg(t.target || '@' || t.wave || '.' || t.position || '='
                                  || md5(t.target_json), ',' ORDER BY t.target)
                FROM rollout_targets t WHERE t.rollout_id = r.rollout_id),
               (SELECT string_agg(x.id || ':' || coalesce(x.from_state, '') || '>'
                                  || x.to_state || ':' || x.at, ',' ORDER BY x.id)
                FROM rollout_transitions x WHERE x.rollout_id = r.rollout_id))
        FROM rollouts r""",
    "outcomes": """
        SELECT event_id, concat_ws('|', change_id, target, sequence, status, received_at,
               md5(event_json))
        FROM outcomes""",
}
Snapshot = dict[str, dict[str, str]]


def seed(url: str, targets: list[Target], *, tag: str) -> None:
    """Records of every kind, written as the services write them."""
    now = datetime.now(UTC)
    with psycopg.connect(url) as conn:
        for index in range(2):
            bundle = json.dumps({"chaos": tag, "revision": index}, sort_keys=True)
            revisions.publish(
                conn,
                content_hash="sha256:" + hashlib.sha256(bundle.encode()).hexdigest(),
                author="chaos",
                message=f"chaos seed {index}",
                created_at=now,
                bundle_json=bundle,
                rendered={t.id: f"{bundle}/{t.id}".encode() for t in targets},
            )
        for target in targets:
            key = base64.urlsafe_b64encode(hashlib.sha256(f"{tag}/{target.id}".encode()).digest())
            enrollments.enroll(conn, target.id, key.rstrip(b"=").decode(), now)
        rollout_id = f"chaos-rollout-{tag}"
        half = max(1, len(targets) // 2)
        rollouts.create(
            conn,
            rollout_id,
            event_json=json.dumps({"chaos": tag}),
            issued_by="chaos",
            waves=[
                rollouts.PlannedWave(tuple(targets[:half]), 0),
                rollouts.PlannedWave(tuple(targets[half:]), 1),
            ],
        )
        rollouts.set_state(conn, rollout_id, RolloutState.RUNNING, "chaos seed")


def snapshot(url: str) -> Snapshot:
    """Every record of every kind: kind -> id -> content."""
    with psycopg.connect(url, connect_timeout=10) as conn:
        return {
            kind: {str(row[0]): str(row[1]) for row in conn.execute(query.encode()).fetchall()}
            for kind, query in QUERIES.items()
        }


def outcome_changes(url: str) -> set[str]:
    """Change ids with at least one outcome recorded."""
    with psycopg.connect(url, connect_timeout=10) as conn:
        return {row[0] for row in conn.execute("SELECT DISTINCT change_id FROM outcomes")}


def lost(before: Snapshot, after: Snapshot) -> dict[str, list[str]]:
    """Per kind, the ids of records missing after, or whose content changed."""
    return {
        kind: sorted(
            key for key, content in records.items() if after.get(kind, {}).get(key) != content
        )
        for kind, records in before.items()
    }


def unrecorded(took_effect: Iterable[str], recorded: set[str]) -> list[str]:
    """Requests of the run that took effect (or were superseded) without an outcome row."""
    return sorted(change for change in took_effect if change not in recorded)
