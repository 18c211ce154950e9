"""On-call at the command line: `provision trace` explains a failed target in one screen,
every command that takes a change id takes the prefix the progress bar shows, and
`provision status` prints trace ids whole."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts import ErrorInfo, OutcomeStatus
from contracts.outcomes import Retry
from producers.records.ledger import Ledger
from tests.isolation import Isolated, provision
from tests.producers.records.test_timeline import outcome, rollout

#: Runs `provision` as a subprocess, as a user does: not in the quick loop.
pytestmark = pytest.mark.slow

BROKEN = ErrorInfo(type="CommandFailed", message="reload exited 1", transient=False)
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def failed_change(database: Any) -> str:
    """A rollout whose three failed targets failed for two reasons, one after a retry."""
    cid = f"{uuid.uuid4()}"
    rollout(database, cid, [["ok-1", "bad-1", "bad-2", "late-1"]])
    ledger = Ledger(database)
    t0 = datetime.now(UTC)
    ledger.record(outcome(cid, "ok-1", OutcomeStatus.CHANGED, trace_id=TRACE_ID))
    for name in ("bad-1", "bad-2"):
        ledger.record(outcome(cid, name, OutcomeStatus.FAILED, error=BROKEN, trace_id=TRACE_ID))
    tried = Retry(
        attempt=1,
        worker="eu-1@host",
        received_at=t0,
        queue_wait_s=0.1,
        at=t0 + timedelta(seconds=0.5),
        reason="NotReady: path_exists /run/app.pid: missing",
        backoff_s=0.8,
    )
    evidence = ErrorInfo(
        type="NotReady", message="path_exists /run/app.pid: missing", transient=True
    )
    ledger.record(
        outcome(
            cid,
            "late-1",
            OutcomeStatus.NOT_READY,
            error=evidence,
            attempts=2,
            retries=(tried,),
            started_at=t0 + timedelta(seconds=2),
            finished_at=t0 + timedelta(seconds=3),
            dead_letter="exhausted after 2 attempt(s): NotReady: path_exists /run/app.pid: missing",
        ),
        t0 + timedelta(seconds=4),
    )
    return cid


def run(iso: Isolated, *args: str, code: int = 0, columns: int = 200) -> Any:
    done = provision(*args, env={**iso.env, "COLUMNS": str(columns)})
    assert done.returncode == code, done.stdout + done.stderr
    return done


def test_trace_explains_a_failed_target(session_services: Isolated, database: Any) -> None:
    cid = failed_change(database)
    moments = json.loads(run(session_services, "trace", cid, "--target", "late-1", "--json").stdout)
    assert all(set(m) == {"time", "kind", "target", "detail"} for m in moments)
    kinds = [m["kind"] for m in moments]
    for kind in ("received", "planned", "published", "readiness", "dead_lettered", "outcome"):
        assert kind in kinds, (kind, kinds)
    assert kinds.index("received") < kinds.index("published") < kinds.index("outcome")

    screen = run(session_services, "trace", cid[:8], "--target", "late-1", columns=120).stdout
    assert len(screen.splitlines()) <= 40, "one screen"
    assert "path_exists /run/app.pid" in screen and "retry in 0.80s" in screen
    assert "eu-1@host" in screen and "waited 0.10s in queue" in screen

    grouped = json.loads(run(session_services, "trace", cid, "--failed", "--json").stdout)
    assert grouped["change_id"] == cid
    reasons = [(g["reason"], g["targets"]) for g in grouped["failed"]]
    assert reasons[0] == ("failed: CommandFailed: reload exited 1", ["bad-1", "bad-2"])
    assert reasons[1][1] == ["late-1"]
    assert grouped["failed"][0]["example"] == "bad-1"
    assert {m["target"] for m in grouped["failed"][0]["timeline"]} == {None, "bad-1"}
    text = run(session_services, "trace", cid, "--failed").stdout
    assert "2 target(s)" in text and "CommandFailed" in text and "late-1" in text

    missing = run(session_services, "trace", cid, "--target", "nobody", code=2)
    assert "no target 'nobody'" in missing.stderr


def test_every_command_takes_a_unique_prefix_and_names_the_ambiguous(
    session_services: Isolated, database: Any
) -> None:
    stem = uuid.uuid4().hex[:8]
    first = f"{stem}-1{str(uuid.uuid4())[10:]}"
    second = f"{stem}-2{str(uuid.uuid4())[10:]}"
    for cid in (first, second):
        rollout(database, cid, [["p-1"]])
    status = json.loads(run(session_services, "status", first[:10], "--json").stdout)
    assert status["change_id"] == first
    shown = json.loads(run(session_services, "rollout", "status", second[:10], "--json").stdout)
    assert shown["rollout_id"] == second
    history = json.loads(run(session_services, "rollout", "history", first[:10], "--json").stdout)
    assert history and history[0]["to"] == "planned"
    paused = run(session_services, "rollout", "pause", second[:10]).stdout
    assert f"rollout {second}: running -> paused" in paused
    run(session_services, "rollout", "resume", second[:10])
    run(session_services, "rollout", "abort", second[:10])
    assert json.loads(run(session_services, "trace", first[:10], "--json").stdout)

    for args in (("status", stem), ("rollout", "status", stem), ("trace", stem)):
        ambiguous = run(session_services, *args, code=2)
        assert first in ambiguous.stderr and second in ambiguous.stderr, args
    unknown = run(session_services, "status", f"zz{stem}", code=2)
    assert "no change matches" in unknown.stderr


def test_status_prints_trace_ids_whole(session_services: Isolated, database: Any) -> None:
    cid = failed_change(database)
    narrow = run(session_services, "status", cid, columns=100).stdout
    assert TRACE_ID in narrow, "the trace id on one line, whole"
