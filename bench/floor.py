"""The floor of the pipeline: the essential I/O of one change, with raw pika, redis-py and
psycopg and nothing else, at the pipeline's concurrency.

What one change must do, however it is built:

* a `hop` process (one per worker process, prefetch 1, like acks_late) takes a request, makes
  one Redis round trip (the idempotency/lock/fence step: one `SET NX PX`), writes one small
  file atomically (temporary file, fsync, rename: what the engine does for a changed file),
  publishes one confirmed, persistent outcome, then acks;
* one `sink` process (the aggregator) takes outcomes in batches (up to SINK_BATCH, or when
  none has come for 30 ms) and makes them durable with one PostgreSQL transaction per batch,
  then acks the batch: the cheapest durable write. The aggregator itself writes what it holds
  at once, so as not to add that wait to every outcome's latency.

Everything our pipeline adds on top (Celery's protocol, validation, the engine's observe and
diff, tracing, signatures, the ledger's bookkeeping) is the gap between `floor_chain_per_s`
and `e2e_changes_per_s`. Run a process as `python -m bench.floor hop|sink`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pika
import psycopg
import redis

from bench import chain

EXCHANGE = "bench.floor"
HOP_QUEUE = "bench.floor.hop"
SINK_QUEUE = "bench.floor.sink"
SINK_BATCH = 200
#: The one table the sink writes (in the benchmark's own database).
TABLE = "bench_floor_outcomes"


def done_key(tag: str) -> str:
    return f"bench:floor:{tag}:done"


def declare(channel: Any) -> None:
    chain.declare(channel, EXCHANGE, (HOP_QUEUE, SINK_QUEUE))


def prepare_table(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} "
            "(tag text NOT NULL, index integer NOT NULL, body text NOT NULL,"
            " PRIMARY KEY (tag, index))"
        )


#: The same requests as the raw chain's.
body = chain.body


def publish(channel: Any, queue: str, payload: bytes) -> None:
    channel.basic_publish(EXCHANGE, queue, payload, chain.PERSISTENT, mandatory=True)


def write_atomically(directory: Path, name: str, data: bytes) -> None:
    """Temporary file in the same directory, fsync, rename: the engine's write of one file."""
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".floor-")
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, directory / name)


def run_hop(connection: Any, client: redis.Redis, root: Path) -> None:
    channel = connection.channel()
    channel.confirm_delivery()
    channel.basic_qos(prefetch_count=1)

    def converge(ch: Any, method: Any, properties: Any, payload: bytes) -> None:
        message = json.loads(payload)
        key = f"bench:floor:{message['tag']}:{message['index']}"
        client.set(key, "1", nx=True, px=60_000)
        home = root / f"t{message['index'] % 1000:03d}"
        home.mkdir(exist_ok=True)
        write_atomically(home, "app.conf", payload[:200])
        publish(ch, SINK_QUEUE, payload)
        ch.basic_ack(method.delivery_tag)

    channel.basic_consume(HOP_QUEUE, converge)
    channel.start_consuming()


def run_sink(connection: Any, client: redis.Redis, database_url: str) -> None:
    """Drain outcomes in batches; one transaction per batch, then count and ack."""
    channel = connection.channel()
    channel.basic_qos(prefetch_count=SINK_BATCH)
    database = psycopg.connect(database_url)
    batch: list[tuple[int, dict[str, Any], bytes]] = []

    def flush() -> None:
        if not batch:
            return
        with database.transaction(), database.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {TABLE} (tag, index, body) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                [(m["tag"], m["index"], raw.decode()) for _, m, raw in batch],
            )
        tags: dict[str, int] = {}
        for _, message, _ in batch:
            tags[message["tag"]] = tags.get(message["tag"], 0) + 1
        for tag, count in tags.items():
            client.incrby(done_key(tag), count)
        channel.basic_ack(batch[-1][0], multiple=True)
        batch.clear()

    while True:
        for method, _, payload in channel.consume(SINK_QUEUE, inactivity_timeout=0.03):
            if method is None:  # the queue paused: what we hold is the batch
                flush()
                continue
            batch.append((method.delivery_tag, json.loads(payload), payload))
            if len(batch) >= SINK_BATCH:
                flush()


def main(role: str) -> None:
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    connection = pika.BlockingConnection(pika.URLParameters(os.environ["PROVISION_BROKER_URL"]))
    client = redis.Redis.from_url(os.environ["PROVISION_REDIS_URL"])
    if role == "hop":
        run_hop(connection, client, Path(os.environ["BENCH_FLOOR_ROOT"]))
    elif role == "sink":
        run_sink(connection, client, os.environ["PROVISION_DATABASE_URL"])
    else:
        raise SystemExit(f"unknown role {role!r}: expected hop or sink")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
