"""`provision rollout status --json`: a rollout as its users read it.

The object's keys are public interface; `rollout_id` is the change id (the change event's
`event_id`), named as it was before the code called it `change_id`.
"""

from __future__ import annotations

from typing import Any

from producers.rollouts.store import RolloutBook


def status_json(book: RolloutBook, change_id: str) -> dict[str, Any]:
    """The `provision rollout status --json` object."""
    rollout = book.load(change_id)
    if rollout is None:
        return {"rollout_id": change_id, "state": None, "reason": "unknown rollout", "waves": []}
    counts = book.wave_counts(rollout) if rollout.plan.waves else []
    meta = book.meta(change_id)
    return {
        "rollout_id": change_id,
        "revision": rollout.revision,
        "state": rollout.state.value,
        "reason": rollout.reason,
        "wave": rollout.wave,
        "issued_by": meta.get("issued_by"),
        "created_at": meta.get("created_at"),
        "updated_at": meta.get("updated_at"),
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
    }
