"""Issue 13: a rollout survives losing Redis's contents and losing PostgreSQL for a while.

Redis is emptied with FLUSHDB of the group's own database (what a restart of a Redis
without persistence does). PostgreSQL is taken from the group's own database only
(connections refused and every session ended, as a restart does; other databases on the
server are untouched) for longer than the controller's pool waits, so the controller loses
the database, lets go of the broker and reconnects. Either way the rollout completes, each
target is published once (at most the one request in hand when the database went may go
out again), and the controller is the same process throughout.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import psycopg

from broker_config import EVENTS_QUEUE
from tests.databases import pg_admin_url
from tests.isolation import wait_until
from tests.producers.rollouts.conftest import RolloutPlane, copies, event, targets
from tests.producers.rollouts.test_rollouts import gated, open_gates, status


@contextlib.contextmanager
def database_away(fleet: RolloutPlane) -> Iterator[None]:
    """The group's database refuses connections and every session on it ends; back after."""
    name = fleet.iso.database_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_admin_url(), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def pid(fleet: RolloutPlane) -> int:
    assert fleet.controller is not None and fleet.controller.proc.poll() is None
    return int(fleet.controller.proc.pid)


def test_a_rollout_completes_through_a_redis_flushdb(tmp_path: Path, fleet: RolloutPlane) -> None:
    before = pid(fleet)
    ids, body = gated(tmp_path, "rf", 8, max_in_flight=2)
    rid = body["event_id"]
    with copies(fleet) as seen:
        try:
            fleet.emit(body)
            fleet.wait_published(rid, 2)  # two gated requests in flight
            shown = status(fleet, rid)
            fleet.redis.flushdb()  # pacing leases go; the rollout's records may not
            after = status(fleet, rid)  # (freed of its leases, the wave may publish more)
            assert after.pop("published") >= shown.pop("published") and after == shown
            open_gates(tmp_path, *ids)
            assert fleet.wait_state(rid, {"completed", "halted"}, timeout_s=90) == "completed"
        finally:
            open_gates(tmp_path, *ids)
    assert seen == {target: 1 for target in ids}, "each target published exactly once"
    result = status(fleet, rid)
    assert all(w["counts"]["changed"] == w["size"] for w in result["waves"])
    assert [t["to"] for t in result["transitions"]] == ["planned", "running", "completed"]
    assert pid(fleet) == before


def test_a_rollout_completes_through_a_postgresql_outage(
    tmp_path: Path, fleet: RolloutPlane
) -> None:
    before = pid(fleet)
    ids, body = gated(tmp_path, "pg", 8, max_in_flight=2)
    rid = body["event_id"]
    late = event(targets(tmp_path, 2, prefix="pl"))
    with copies(fleet) as seen:
        try:
            fleet.emit(body)
            fleet.wait_published(rid, 2)
            with database_away(fleet):
                fleet.emit(late)  # admitted only once its rollout can be committed
                open_gates(tmp_path, *ids)  # outcomes arrive while the database is away
                # The pool waits for a connection (a quick restart costs nothing more),
                # then gives up: the controller drops its consumers to reconnect.
                wait_until(lambda: _consumers(fleet) == 0, 90, "the controller to let go")
            assert fleet.wait_state(rid, {"completed", "halted"}, timeout_s=120) == "completed"
            assert fleet.wait_state(late["event_id"], {"completed", "halted"}) == "completed"
        finally:
            open_gates(tmp_path, *ids)
    # A publish cannot be atomic with its record: the one request in hand when the database
    # went may go out again (same task id, so the worker applies it once).
    again = [target for target, count in seen.items() if count > 1]
    assert set(ids) <= set(seen) and len(again) <= 1, f"republished: {seen}"
    assert fleet.outcomes(rid).keys() == set(ids)
    assert pid(fleet) == before, "the controller reconnected instead of dying"


def _consumers(fleet: RolloutPlane) -> int:
    """How many consumers `provision.events` has (the controller's one, or none)."""
    connection = fleet.amqp()
    try:
        declared = connection.channel().queue_declare(EVENTS_QUEUE, passive=True)
        return int(declared.method.consumer_count)
    finally:
        connection.close()
