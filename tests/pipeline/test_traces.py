"""One change is one trace, exported over OTLP/HTTP to a real receiver: spans from the CLI,
the controller, a worker and the aggregator share its trace id; a retry is a new span of the
same trace with its reason; a prefork child exports its spans before it exits. And
`provision trace` tells the same change from the system's own records."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broker_config import CHECKINS_QUEUE, EVENTS_QUEUE, RESULTS_QUEUE, ROLLOUTS_QUEUE, region_queue
from contracts import FileSpec, Target
from contracts.events import ChangeEvent
from contracts.inventory import Inventory
from contracts.truth import RoleFile, SourceBundle
from producers.processes.commands import aggregator_argv, controller_argv, worker_argv
from producers.store import outcomes
from producers.store import rollouts as books
from producers.store.rollouts import PlannedWave
from producers.truth.revisions import RevisionStore
from tests.isolation import Isolated, Isolation, controller_key, wait_until
from tests.otlp import ReceivedSpan, Receiver
from tests.pipeline.conftest import change_file, local_target
from tests.services import flock_held
from workers.engine.target_lock import LOCK_FILE

pytestmark = pytest.mark.slow

RESOURCES = [{"kind": "file", "path": "/etc/app.conf", "content": "port = 8080\n"}]
SERVICES = {"provision-cli", "provision-controller", "provision-worker", "provision-aggregator"}


@pytest.fixture(scope="module")
def traced(isolation: Isolation, allow_tmp: str) -> Iterator[tuple[Isolated, Receiver]]:
    """A control plane and an `eu` worker of their own, exporting to a receiver in this test."""
    receiver = Receiver()
    iso = isolation(
        "traces",
        fresh=True,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="100",
        PROVISION_RETRY_BASE_S="0.05",
    )
    iso.spawn("worker-eu", worker_argv("eu", allow=allow_tmp, name="eu-traced@%h"))
    iso.spawn("aggregator", aggregator_argv())
    iso.spawn("controller", controller_argv())
    iso.wait_consuming(
        region_queue("eu"), RESULTS_QUEUE, EVENTS_QUEUE, ROLLOUTS_QUEUE, CHECKINS_QUEUE
    )
    try:
        yield iso, receiver
    finally:
        iso.close()
        receiver.close()


def apply(iso: Isolated, path: Path) -> str:
    done = iso.provision("apply", str(path), "--json", timeout_s=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return str(json.loads(done.stdout.strip().splitlines()[-1])["change_id"])


def recorded(iso: Isolated, change_id: str, targets: set[str]) -> bool:
    with iso.database.connection() as conn:
        return set(outcomes.latest_in_change(conn, change_id)) >= targets


def named(spans: list[ReceivedSpan], name: str, **attributes: Any) -> list[ReceivedSpan]:
    return [
        s
        for s in spans
        if s.name == name and all(s.attributes.get(k) == v for k, v in attributes.items())
    ]


def test_one_change_is_one_trace_from_the_cli_to_the_aggregator(
    traced: tuple[Isolated, Receiver], tmp_path: Path
) -> None:
    iso, receiver = traced
    targets = [local_target(tmp_path, "tr-ok", "eu"), local_target(tmp_path, "tr-busy", "eu")]
    path = change_file(tmp_path, targets, RESOURCES)
    # tr-busy's own lock is held: its worker waits and retries until it is let go.
    with flock_held(tmp_path / "tr-busy" / LOCK_FILE.lstrip("/")):
        cid = apply(iso, path)
        wait_until(
            lambda: named(receiver.of_change(cid), "send provision.retries"),
            90,
            "the span of a retry of tr-busy",
        )
    wait_until(lambda: recorded(iso, cid, {"tr-ok", "tr-busy"}), 120, "both outcomes recorded")

    def complete() -> list[ReceivedSpan] | None:
        spans = receiver.of_change(cid)
        done = {s.service for s in spans} >= SERVICES
        stored = named(spans, "process provision.results", **{"provision.target": "tr-busy"})
        return spans if done and stored else None

    spans = wait_until(complete, 60, "the spans of every process")
    assert {s.trace_id for s in spans} == {spans[0].trace_id}, "one change, one trace"
    by_id = {s.span_id: s for s in spans}

    root = named(spans, "provision apply")
    assert root and root[0].service == "provision-cli" and root[0].parent_id == ""
    sent = named(spans, "send provision.events")[0]
    assert sent.kind == "PRODUCER" and sent.attributes["messaging.system"] == "rabbitmq"
    assert sent.attributes["messaging.message.id"] == cid
    intake = named(spans, "process provision.events")[0]
    assert intake.kind == "CONSUMER" and intake.service == "provision-controller"
    assert by_id[intake.parent_id].name == "send provision.events"
    assert named(spans, "provision validate") and named(spans, "provision plan")
    assert named(spans, "provision wave", **{"provision.wave": 1})

    publish = named(spans, "send provision.changes", **{"provision.target": "tr-ok"})[0]
    assert publish.kind == "PRODUCER" and publish.attributes["provision.region"] == "eu"
    assert publish.attributes["messaging.destination.name"] == "provision.changes"
    assert publish.attributes["messaging.message.id"]
    assert by_id[publish.parent_id].name == "provision wave"

    receipt = named(spans, "process provision.changes.eu", **{"provision.target": "tr-ok"})[0]
    assert receipt.kind == "CONSUMER" and receipt.service == "provision-worker"
    assert receipt.parent_id == publish.span_id
    assert receipt.attributes["messaging.message.id"] == publish.attributes["messaging.message.id"]
    assert receipt.attributes["provision.queue_wait_s"] >= 0
    assert receipt.attributes["provision.status"] == "changed"
    assert receipt.attributes["provision.change_id"] == cid
    applied = named(spans, "provision apply file")
    assert any(by_id.get(s.parent_id) == receipt for s in applied)
    result = named(spans, "send provision.results", **{"provision.target": "tr-ok"})[0]
    assert result.kind == "PRODUCER" and by_id[result.parent_id] == receipt
    record = named(spans, "process provision.results", **{"provision.target": "tr-ok"})[0]
    assert record.service == "provision-aggregator" and record.parent_id == result.span_id
    assert record.attributes["provision.status"] == "changed"

    tries = named(spans, "process provision.changes.eu", **{"provision.target": "tr-busy"})
    assert len(tries) >= 2, "each try of tr-busy is a span of its own"
    again = [s for s in tries if "TargetLocked" in str(s.attributes.get("provision.retry.reason"))]
    assert again and all(by_id[s.parent_id].name == "send provision.retries" for s in again)
    assert {s.attributes["provision.attempt"] for s in tries} == {1}, "waits are not attempts"

    # The same change, from the system's own records, by the prefix on-call types.
    shown = iso.provision("trace", cid[:8], "--target", "tr-busy", "--json")
    assert shown.returncode == 0, shown.stderr
    moments = json.loads(shown.stdout)
    kinds = [m["kind"] for m in moments]
    for kind in ("received", "admitted", "planned", "wave_started", "published", "outcome"):
        assert kind in kinds, (kind, kinds)
    assert kinds.count("received_by_worker") >= 2 and "retry" in kinds
    waited = next(m for m in moments if m["kind"] == "retry")
    assert "TargetLocked" in waited["detail"] and "retry in" in waited["detail"]
    assert {m["target"] for m in moments} <= {None, "tr-busy"}
    assert set(moments[0]) == {"time", "kind", "target", "detail"}
    assert any(spans[0].trace_id in m["detail"] for m in moments if m["kind"] == "outcome")


def test_a_prefork_child_exports_its_spans_before_it_exits(
    traced: tuple[Isolated, Receiver], tmp_path: Path, allow_tmp: str
) -> None:
    """Its batch waits ten minutes: only the flush at the child's exit can send it."""
    iso, receiver = traced
    worker = iso.spawn(
        "worker-us",
        worker_argv("us", allow=allow_tmp, concurrency=1, name="us-traced@%h"),
        env={"OTEL_BSP_SCHEDULE_DELAY": "600000"},
    )
    iso.wait_consuming(region_queue("us"))
    path = change_file(tmp_path, [local_target(tmp_path, "tr-us", "us")], RESOURCES)
    cid = apply(iso, path)
    wait_until(lambda: recorded(iso, cid, {"tr-us"}), 120, "the outcome of tr-us recorded")
    wait_until(
        lambda: named(receiver.of_change(cid), "process provision.results"),
        60,
        "the aggregator's span",
    )
    assert not [s for s in receiver.of_change(cid) if s.service == "provision-worker"]
    worker.stop()
    exported = wait_until(
        lambda: named(receiver.of_change(cid), "process provision.changes.us"),
        60,
        "the worker's spans after its child exited",
    )
    assert exported[0].attributes["provision.target"] == "tr-us"


def test_a_pull_check_in_is_a_trace_of_its_own_linked_to_the_rollout(
    traced: tuple[Isolated, Receiver], tmp_path: Path
) -> None:
    """The agent's run (check-in, converge, outcome) is one trace; the controller's answer
    belongs to it and links to the trace of the rollout that assigned the revision."""
    iso, receiver = traced
    root = tmp_path / "pl-1"
    root.mkdir()
    target = Target(
        id="pl-1",
        region="eu",
        environment="test",
        roles=("base",),
        delivery="pull",
        address=f"local://{root}",
    )
    bundle = SourceBundle(
        inventory=Inventory(targets=(target,)),
        roles={"base": RoleFile(resources=(FileSpec(path="/etc/motd", content="hi\n"),))},
    )
    store = RevisionStore(iso.database, signer=controller_key())  # as the controller signs
    revision = store.publish(bundle, author="tests", message="motd")
    number = revision.revision.number
    cid = str(uuid.uuid4())
    rollout_trace = "00-" + uuid.uuid4().hex + "-" + uuid.uuid4().hex[:16] + "-01"
    event = ChangeEvent.model_validate({"event_id": cid, "issued_by": "tests", "revision": number})
    with iso.database.connection() as conn:
        books.create(
            conn,
            cid,
            event_json=event.model_dump_json(),
            issued_by="tests",
            waves=[PlannedWave((target,), 0)],
            revision=number,
            trace={"traceparent": rollout_trace},
        )
        conn.execute(
            "INSERT INTO assigned_revisions (target, revision, change_id) VALUES (%s, %s, %s)",
            ("pl-1", number, cid),
        )
    creds = tmp_path / "agent-pl-1"
    enrolled = iso.provision("enroll", "pl-1", "--out", str(creds))
    assert enrolled.returncode == 0, enrolled.stderr
    ran = iso.provision("agent", "--target", "pl-1", "--credentials", str(creds), "--once")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    wait_until(lambda: recorded(iso, cid, {"pl-1"}), 60, "the agent's outcome recorded")

    def complete() -> list[ReceivedSpan] | None:
        spans = receiver.of_change(cid)
        services = {s.service for s in spans}
        return (
            spans
            if {"provision-agent", "provision-controller", "provision-aggregator"} <= services
            else None
        )

    spans = wait_until(complete, 60, "the spans of the agent, the controller and the aggregator")
    run = named(spans, "provision checkin")[0]
    assert run.service == "provision-agent" and run.parent_id == ""
    assert {s.trace_id for s in spans} == {run.trace_id}
    assert run.trace_id != rollout_trace.split("-")[1], "a trace of its own"
    answer = named(spans, "process provision.checkins")[0]
    assert answer.service == "provision-controller" and answer.kind == "CONSUMER"
    assert answer.links == (rollout_trace.split("-")[1],), "linked to the rollout's trace"
    assert named(spans, "process provision.results", **{"provision.target": "pl-1"})
    with iso.database.connection() as conn:
        stored = outcomes.latest_in_change(conn, cid)["pl-1"].event
    assert stored.delivery == "pull" and stored.trace_id == run.trace_id
