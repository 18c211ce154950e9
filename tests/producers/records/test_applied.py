"""Applied revisions recorded in one statement per batch: only forward, highest per target."""

from __future__ import annotations

import uuid
from typing import Any

from producers.store import assignments


def test_applied_revisions_move_only_forward_and_a_batch_keeps_the_highest(database: Any) -> None:
    a, b = f"ap-{uuid.uuid4().hex[:8]}", f"ap-{uuid.uuid4().hex[:8]}"
    with database.connection() as conn:
        rows = [(a, 2, "c1", "e1"), (a, 5, "c2", "e2"), (a, 3, "c3", "e3"), (b, 1, "c1", "e4")]
        assert assignments.record_applied_many(conn, rows) == 2
        assert assignments.record_applied_many(conn, [(a, 4, "c4", "e5")]) == 0
        assert assignments.record_applied_many(conn, [(b, 7, "c5", "e6")]) == 1
        assert assignments.record_applied_many(conn, []) == 0
        one, two = assignments.applied(conn, a), assignments.applied(conn, b)
    assert one is not None and (one.revision, one.change_id) == (5, "c2")
    assert two is not None and (two.revision, two.change_id) == (7, "c5")
