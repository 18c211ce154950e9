"""`provision rollout status --json` and `rollout history`: a rollout as its users read it.

The object's keys are public interface; `rollout_id` is the change id (the change event's
`event_id`), named as it was before the code called it `change_id`. Everything is read
from the system of record, so it is the same after Redis forgot everything.
"""

from __future__ import annotations

from typing import Any

from contracts.events import RolloutState
from producers.rollouts.store import RolloutBook


def status_json(book: RolloutBook, change_id: str) -> dict[str, Any]:
    """The `provision rollout status --json` object.

    `transitions` is every state the rollout went through with when and why; `refused`,
    for a rejected event, what was kept of its body (sha256, size, a redacted excerpt).
    """
    head = book.head(change_id)
    rollout = book.load(change_id) if head is not None else None
    if head is None or rollout is None:
        return {"rollout_id": change_id, "state": None, "reason": "unknown rollout", "waves": []}
    counts = book.wave_counts(rollout) if rollout.plan.waves else []
    return {
        "rollout_id": change_id,
        "revision": rollout.revision,
        "state": head.state.value,
        "reason": head.reason,
        "wave": head.wave,
        "issued_by": head.issued_by,
        "created_at": head.created_at.isoformat(),
        "updated_at": head.updated_at.isoformat(),
        "published": book.published_count(change_id),
        "waves": [
            {
                "index": w.index,
                "targets": list(w.targets),
                "size": len(w.targets),
                "max_failures": w.max_failures,
                "counts": c,
            }
            for w, c in zip(rollout.plan.waves, counts, strict=True)
        ],
        "transitions": transitions_json(book, change_id),
        "refused": _refused(book, change_id) if head.state == RolloutState.REJECTED else None,
    }


def transitions_json(book: RolloutBook, change_id: str) -> list[dict[str, Any]]:
    """Every transition, oldest first: `from` (null for the first), `to`, `reason`, `at`."""
    return [
        {
            "from": t.from_state.value if t.from_state else None,
            "to": t.to_state.value,
            "reason": t.reason,
            "at": t.at.isoformat(),
        }
        for t in book.transitions(change_id)
    ]


def _refused(book: RolloutBook, change_id: str) -> dict[str, Any] | None:
    found = book.refused(change_id)
    if found is None:
        return None
    return {
        "sha256": found.digest.removeprefix("sha256:"),
        "size": found.size,
        "excerpt": found.excerpt,
        "times": found.times,
        "last_seen": found.last_seen.isoformat(),
    }
