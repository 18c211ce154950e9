"""Everything that came from a message is shown as text: a `<script>` in a failure reason,
a target name or an issuer never becomes markup, on a page or in a live update."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from contracts import ErrorInfo, OutcomeStatus
from producers.dashboard import pages, streams
from producers.records.failures import failed_by_reason
from producers.records.ledger import Ledger
from producers.store import audit
from tests.isolation import Isolated
from tests.producers.dashboard.conftest import client, outcome, rollout

HOSTILE = '<script>alert("owned")</script><img src=x onerror=alert(1)>'


def hostile_rollout(db: Any) -> str:
    cid = rollout(db, [["x1", "x2"]], issued_by=f"evil{HOSTILE}")
    error = ErrorInfo(type="ResourceError", message=f"bad {HOSTILE}", transient=False)
    Ledger(db).record(outcome(cid, "x1", OutcomeStatus.FAILED, error=error))
    return cid


def assert_shown_as_text(html: str) -> None:
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(" in html


def test_a_script_in_a_failure_reason_is_text_on_the_page(dash: Isolated) -> None:
    cid = hostile_rollout(dash.database)
    with client(dash) as browser:
        page = browser.get("/")
        assert page.status_code == 200
        assert cid in page.text
        assert_shown_as_text(page.text)
        assert "script-src 'self'" in page.headers["content-security-policy"]
        trace = browser.get(f"/trace/{cid}", params={"target": "x1"})
        assert trace.status_code == 200
        assert_shown_as_text(trace.text)


def test_a_live_update_carries_only_escaped_markup(dash: Isolated) -> None:
    hostile_rollout(dash.database)
    snapshots = streams.Snapshots(lambda name: pages.section(name, dash.database, failed_by_reason))

    async def first_events() -> list[str]:
        events = streams.stream(snapshots, ["failures", "rollouts"])
        got = [await anext(events) for _ in range(3)]
        await events.aclose()
        return got

    retry, *updates = asyncio.run(first_events())
    assert retry.startswith("retry: ")
    for update in updates:
        kind, data = update.strip().split("\n")
        assert kind == "event: section"
        fragment = json.loads(data.removeprefix("data: "))
        assert fragment["section"] in ("failures", "rollouts")
        assert_shown_as_text(fragment["html"])
    assert snapshots.open_streams == 0, "a closed stream is counted out"


def test_the_audit_trail_shows_hostile_details_as_text(dash: Isolated) -> None:
    with dash.database.connection() as conn:
        audit.append(conn, actor=HOSTILE, action="replay", subject=HOSTILE, detail={"x": HOSTILE})
    with client(dash) as browser:
        page = browser.get("/audit")
    assert page.status_code == 200
    assert_shown_as_text(page.text)
