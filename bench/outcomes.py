"""Benchmark 6: the aggregator's write rate into PostgreSQL, against a raw pika consumer.

N valid outcome events wait in `provision.results` before the aggregator starts; the clock
runs from the first row seen in `outcomes` to the N-th (rows counted, every 10 ms), so the
process's start-up is not charged and batching is. The baseline drains the same N bodies
from a plain queue of the same vhost with a raw pika consumer that only acks, with the
aggregator's prefetch: the gap between the two is what recording costs.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pika

from bench.errors import BenchError
from bench.pipeline import ISSUER
from bench.plan import Plan
from bench.processes import check, supervisor
from bench.sandbox import Sandbox, sandbox
from bench.section import Section
from bench.stats import median, paired_ratio
from broker_config import RESULTS_EXCHANGE, RESULTS_QUEUE, declare
from broker_config.connections import speaks_as
from contracts import OutcomeEvent, OutcomeStatus
from contracts.changes import utcnow
from producers.processes import commands
from producers.processes.supervisor import Supervisor
from producers.records import aggregator as aggregator_module
from producers.records.ledger import Ledger
from producers.store.database import Database

log = logging.getLogger("bench")

RAW_QUEUE = "bench.raw-outcomes"
#: The raw consumer holds as many unacked messages as the aggregator does.
PREFETCH = int(getattr(aggregator_module, "PREFETCH", 200))
TARGETS_PER_CHANGE = 100
POLL_S = 0.01


def events(tag: str, n: int) -> tuple[dict[str, list[str]], list[bytes]]:
    """N outcome bodies over changes of 100 targets each, and those changes' targets."""
    now = utcnow()
    changes: dict[str, list[str]] = {}
    bodies = []
    for index in range(n):
        change_id = f"out-{tag}-{index // TARGETS_PER_CHANGE:04d}"
        target = f"t{index % TARGETS_PER_CHANGE:05d}"
        changes.setdefault(change_id, []).append(target)
        event = OutcomeEvent(
            outcome_id=str(uuid.uuid4()),
            change_id=change_id,
            target=target,
            status=OutcomeStatus.CHANGED,
            worker="bench@localhost",
            started_at=now - timedelta(milliseconds=5),
            finished_at=now,
            sequence=index + 1,
        )
        bodies.append(event.model_dump_json().encode())
    return changes, bodies


def preload(box: Sandbox, exchange: str, routing_key: str, queue: str, bodies: list[bytes]) -> None:
    """Publish every body (persistent), then wait until the queue holds them all."""
    connection = pika.BlockingConnection(pika.URLParameters(box.broker_url))
    try:
        channel: Any = connection.channel()
        properties = pika.BasicProperties(
            content_type="application/json",
            delivery_mode=pika.DeliveryMode.Persistent,
            user_id=speaks_as(connection),  # the aggregator checks who sent an outcome
        )
        for body in bodies:
            channel.basic_publish(exchange, routing_key, body, properties)
        deadline = time.monotonic() + 60 + len(bodies) / 500
        while channel.queue_declare(queue, passive=True).method.message_count < len(bodies):
            if time.monotonic() > deadline:
                raise BenchError(f"{queue} did not receive the {len(bodies)} outcomes")
            time.sleep(POLL_S)
    finally:
        connection.close()


def _rows(db: Database) -> int:
    with db.connection() as conn:
        row = conn.execute("SELECT count(*) FROM outcomes").fetchone()
    return int(row[0]) if row else 0


def run_aggregator(
    box: Sandbox, children: Supervisor, db: Database, tag: str, n: int, timeout_s: float
) -> float:
    """Outcomes per second the aggregator records, from its first row to its N-th."""
    changes, bodies = events(tag, n)
    ledger = Ledger(db)
    for change_id, targets in changes.items():
        ledger.open_change(change_id, targets, issued_by=ISSUER, issued_at=utcnow())
    before = _rows(db)
    preload(box, RESULTS_EXCHANGE, "bench", RESULTS_QUEUE, bodies)
    children.start("aggregator", commands.aggregator_argv(), box.env)
    deadline = time.monotonic() + timeout_s
    first: tuple[float, int] | None = None
    while True:
        done = _rows(db) - before
        now = time.perf_counter()
        if first is None and done > 0:
            first = (now, done)
        if done >= n:
            break
        check(children)
        if time.monotonic() > deadline:
            raise BenchError(
                f"aggregator: {n - done} of {n} outcomes not recorded in {timeout_s:g}s"
            )
        time.sleep(POLL_S)
    children.children["aggregator"].stop()
    assert first is not None
    return (n - first[1]) / max(now - first[0], 1e-6)


def run_raw(box: Sandbox, n: int, timeout_s: float) -> float:
    """Messages per second a raw pika consumer drains and acks, first to last."""
    _, bodies = events("raw", n)
    preload(box, "", RAW_QUEUE, RAW_QUEUE, bodies)
    connection = pika.BlockingConnection(pika.URLParameters(box.broker_url))
    stamps: list[float] = []
    try:
        channel: Any = connection.channel()
        channel.basic_qos(prefetch_count=PREFETCH)

        def on_message(ch: Any, method: Any, properties: Any, body: bytes) -> None:
            ch.basic_ack(method.delivery_tag)
            stamps.append(time.perf_counter())
            if len(stamps) >= n:
                ch.stop_consuming()

        channel.basic_consume(RAW_QUEUE, on_message)
        connection.call_later(timeout_s, channel.stop_consuming)
        channel.start_consuming()
    finally:
        connection.close()
    if len(stamps) < n:
        raise BenchError(f"raw consumer: {n - len(stamps)} of {n} not consumed in {timeout_s:g}s")
    return (n - 1) / max(stamps[-1] - stamps[0], 1e-6)


def measure(plan: Plan, redis_db: int, workdir: Path) -> Section:
    """The aggregator's and the raw consumer's rates, interleaved per repetition."""
    n = plan.outcomes_n
    timeout_s = 60 + n / 50
    rates: dict[str, list[float]] = {"aggregator": [], "raw": []}
    with (
        sandbox("outcomes", redis_db) as box,
        supervisor(workdir / "logs" / "out") as children,
        box.database() as db,
    ):
        connection = pika.BlockingConnection(pika.URLParameters(box.broker_url))
        try:
            declare(connection)
            connection.channel().queue_declare(RAW_QUEUE, durable=True)
        finally:
            connection.close()
        run_aggregator(box, children, db, "warm", plan.warmup_n, timeout_s)
        for rep in range(plan.outcomes_reps):
            for path in ("aggregator", "raw") if rep % 2 == 0 else ("raw", "aggregator"):
                if path == "aggregator":
                    rate = run_aggregator(box, children, db, f"r{rep}", n, timeout_s)
                else:
                    rate = run_raw(box, n, timeout_s)
                rates[path].append(rate)
                log.info("outcomes rep %d %s: %.0f/s", rep + 1, path, rate)
    return Section(
        values={
            "aggregator_outcomes_per_s": median(rates["aggregator"]),
            "raw_consume_per_s": median(rates["raw"]),
            "aggregator_vs_raw_consume": paired_ratio(rates["aggregator"], rates["raw"]),
        },
        detail={"outcomes": {"n": n, "prefetch": PREFETCH, "per_s": rates}},
    )
