"""The metrics endpoints of a running controller, aggregator and prefork worker, scraped over
HTTP after one change with a target that fails, one that is never ready and one that works.

The group `rollouts` is borrowed (fresh) and its processes stopped at the end, as the
rollout tests' own fleet does.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest

from broker_config import (
    CHANGES_EXCHANGE,
    CHECKINS_QUEUE,
    DEAD_QUEUE,
    EVENTS_QUEUE,
    RESULTS_EXCHANGE,
    RESULTS_QUEUE,
    ROLLOUTS_QUEUE,
    region_queue,
)
from contracts import Target, metrics
from producers.processes.commands import aggregator_argv, controller_argv, worker_argv
from producers.rollouts.store import RolloutBook
from tests.isolation import Isolated, Isolation, wait_until
from tests.metrics_scrape import Scrape, free_port, scrape_or_none
from workers.engine.target_lock import held

OUTCOMES = metrics.OUTCOMES.name
RETRIES = metrics.RETRIES.name
DEAD_LETTERS = metrics.DEAD_LETTERS.name
IN_FLIGHT = metrics.IN_FLIGHT.name
CHECKINS = metrics.CHECKINS.name

pytestmark = pytest.mark.slow

#: Waits until the `go` file exists in its target's root, so a request stays in flight.
GATE = {
    "kind": "command",
    "shell": True,
    "name": "gate",
    "timeout_s": 90,
    "argv": ["while [ ! -e go ]; do sleep 0.05; done"],
}


class MeteredPlane:
    """A controller, an aggregator and an eu worker, each serving metrics on its own port."""

    def __init__(self, iso: Isolated, allow: str) -> None:
        self.iso = iso
        self.ports = {name: free_port() for name in ("controller", "aggregator", "worker")}
        worker = worker_argv("eu", allow=allow, name="eu-m@%h", metrics_port=self.ports["worker"])
        iso.spawn("worker-eu", worker, {"PROVISION_RETRY_BASE_S": "0.2"})
        iso.spawn("aggregator", aggregator_argv(metrics_port=self.ports["aggregator"]))
        iso.wait_consuming(region_queue("eu"), RESULTS_QUEUE)
        iso.spawn("controller", controller_argv(metrics_port=self.ports["controller"]))
        iso.wait_consuming(EVENTS_QUEUE, ROLLOUTS_QUEUE, CHECKINS_QUEUE)
        self.book = RolloutBook(iso.database, iso.redis)

    def scrape(self, name: str) -> Scrape:
        port = self.ports[name]
        return wait_until(lambda: scrape_or_none(port), 30, f"the {name}'s metrics endpoint")

    def emit(self, event: dict[str, object]) -> None:
        """A change event signed with the operator's key, as the other tests send them."""
        self.iso.emit_event(dict(event), "tests.metrics")


@pytest.fixture(scope="module")
def plane(isolation: Isolation, allow_tmp: str) -> Iterator[MeteredPlane]:
    iso = isolation("rollouts", fresh=True)
    yield MeteredPlane(iso, allow_tmp)
    iso.supervisor.stop()


def target(tmp_path: Path, target_id: str, *, root: bool = True, gate: bool = True) -> Target:
    """A local eu target; `gate` open lets its converge run through at once."""
    path = tmp_path / target_id
    if root:
        path.mkdir()
        if gate:
            (path / "go").touch()
    return Target(id=target_id, region="eu", environment="test", address=f"local://{path}")


def publish(plane: MeteredPlane, exchange: str, routing_key: str, body: bytes) -> None:
    """A message no process of ours would send: each one dead-letters it."""
    connection = plane.iso.amqp()
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            exchange, routing_key, body, pika.BasicProperties(delivery_mode=2), mandatory=True
        )
    finally:
        connection.close()


def test_every_endpoint_answers_with_its_metrics_after_a_change_with_failures(
    tmp_path: Path, plane: MeteredPlane
) -> None:
    ok = target(tmp_path, "ok", gate=False)  # changed, once the test opens its gate
    gone = target(tmp_path, "gone", root=False)  # failed: it has no root
    locked = target(tmp_path, "locked")  # waits for the lock the test holds, then changed
    event = {
        "event_id": str(uuid.uuid4()),
        "issued_by": "tests",
        "targets": [t.model_dump(mode="json") for t in (ok, gone, locked)],
        "resources": [{"kind": "file", "path": "/etc/motd", "content": "hi\n"}, GATE],
        "rollout": {"waves": ["100%"], "max_failures": "100%"},
    }
    rid = event["event_id"]
    worker_pid = plane.iso.supervisor.children["worker-eu"].proc.pid
    try:
        with held(locked):
            plane.emit(event)
            wait_until(
                lambda: plane.scrape("worker").value(RETRIES, reason="target_locked"),
                60,
                "the worker to retry the locked target",
            )
            wait_until(
                lambda: plane.scrape("controller").value(IN_FLIGHT, region="eu") == 2,
                60,
                "the controller to count the gated and the locked requests in flight",
            )
    finally:
        (tmp_path / "ok" / "go").touch()
    wait_until(lambda: plane.book.meta(rid).get("state") in {"completed", "halted"}, 120, "the end")
    assert plane.book.meta(rid)["state"] == "completed"
    plane.iso.emit_event(b"not json", "tests.metrics")  # signed, so read, and invalid
    publish(plane, RESULTS_EXCHANGE, "eu.test.ok", b"{}")
    publish(plane, CHANGES_EXCHANGE, "eu.test.ok", b"[]")

    recorded = wait_until(
        lambda: _settled(plane.scrape("aggregator"), OUTCOMES, 3), 60, "3 outcomes recorded"
    )
    assert recorded.values(OUTCOMES, "status") == {
        **{status: 0.0 for status in recorded.values(OUTCOMES, "status")},
        "changed": 2.0,
        "failed": 1.0,
    }
    assert recorded.value(OUTCOMES, status="failed", region="eu") == 1
    assert wait_until(
        lambda: plane.scrape("aggregator").value(DEAD_LETTERS, reason="invalid") == 1,
        30,
        "the aggregator to count its dead letter",
    )

    # The worker: its pool children converge and publish; the parent's endpoint shows it.
    worker = wait_until(
        lambda: _dead(plane.scrape("worker")), 30, "the worker to count its dead letter"
    )
    assert worker.value(OUTCOMES, status="changed", region="eu") == 2
    assert worker.value(OUTCOMES, status="failed", region="eu") == 1
    assert worker.value(OUTCOMES, status="not_ready", region="eu") == 0
    assert worker.value("provision_converge_seconds_count") == 3
    assert worker.value("provision_converge_seconds_bucket", le="+Inf") == 3
    assert worker.value("provision_queue_wait_seconds_count") == 3, "first deliveries only"
    assert (worker.value(RETRIES, reason="target_locked") or 0) >= 1
    assert worker.value(RETRIES, reason="not_ready") == 0
    children = _pids(worker_dir(plane.ports["worker"])) - {worker_pid}
    assert children, "the pool children wrote samples of their own"

    controller = wait_until(
        lambda: _drained(plane.scrape("controller")), 30, "the controller's gauges to settle"
    )
    assert controller.value(DEAD_LETTERS, reason="invalid") == 1
    with plane.iso.database.connection() as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM rollouts GROUP BY 1").fetchall())
    assert controller.values("provision_rollouts", "state") == {
        state: float(states.get(state, 0)) for state in metrics.ROLLOUT_STATES
    }
    depths = controller.values("provision_queue_depth", "queue")
    assert {region_queue("eu"), RESULTS_QUEUE, EVENTS_QUEUE, DEAD_QUEUE} <= set(depths)
    assert depths[DEAD_QUEUE] >= 3, "the three dead letters wait in provision.dead"
    assert controller.values(CHECKINS, "result") == {
        result: 0.0 for result in metrics.CHECKIN_RESULTS
    }
    for name, scrape in (("controller", controller), ("aggregator", recorded), ("worker", worker)):
        exported = {m.name for m in metrics.METRICS if name in m.exported_by}
        assert all(scrape.has(m) for m in exported), (name, scrape.text)


def _settled(scrape: Scrape, sample: str, total: int) -> Scrape | None:
    return scrape if sum(scrape.values(sample, "status").values()) == total else None


def _dead(scrape: Scrape) -> Scrape | None:
    return scrape if scrape.value(DEAD_LETTERS, reason="invalid") == 1 else None


def _drained(scrape: Scrape) -> Scrape | None:
    """The controller's scrape once its gauges show the rollout over and the dead letters."""
    done = scrape.value(IN_FLIGHT, region="eu") == 0
    dead = (scrape.value("provision_queue_depth", queue=DEAD_QUEUE) or 0) >= 3
    return scrape if done and dead and scrape.value(DEAD_LETTERS, reason="invalid") else None


def worker_dir(port: int) -> Path:
    return Path(tempfile.gettempdir()) / f"provision-worker-metrics-{os.getuid()}-{port}"


def _pids(directory: Path) -> set[int]:
    """The pids that wrote counter samples into a multiprocess directory."""
    return {int(p.stem.rsplit("_", 1)[1]) for p in directory.glob("counter_*.db")}
