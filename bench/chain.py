"""The raw pika baseline: publish → consume → publish → consume → Redis write, no Celery.

It is the skeleton of our pipeline with nothing on it: `hop` processes stand for the
worker pool (prefetch 1, a confirmed publish, then the ack, like acks_late), and one `sink`
stands for the aggregator (prefetch 200, one Redis write per message, then the ack).
Run a process as `python -m bench.chain hop|sink`; the harness starts them.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pika
import redis

EXCHANGE = "bench.raw"
HOP_QUEUE = "bench.raw.hop"
SINK_QUEUE = "bench.raw.sink"
#: The size of a change request message of our pipeline with one small file resource.
BODY_BYTES = 1_000
SINK_PREFETCH = 200


def done_key(tag: str) -> str:
    """The counter of messages that reached the sink in run `tag`."""
    return f"bench:raw:{tag}:done"


def declare(
    channel: Any, exchange: str = EXCHANGE, queues: tuple[str, ...] = (HOP_QUEUE, SINK_QUEUE)
) -> None:
    """A direct exchange and the two durable classic queues of a chain (the floor chain
    declares its own names the same way)."""
    channel.exchange_declare(exchange, exchange_type="direct", durable=True)
    for queue in queues:
        channel.queue_declare(queue, durable=True)
        channel.queue_bind(queue, exchange, routing_key=queue)


def body(tag: str, index: int) -> bytes:
    """A JSON message of about BODY_BYTES."""
    head = {"tag": tag, "index": index, "pad": ""}
    head["pad"] = "x" * max(0, BODY_BYTES - len(json.dumps(head)))
    return json.dumps(head).encode()


PERSISTENT = pika.BasicProperties(content_type="application/json", delivery_mode=2)


def publish(channel: Any, queue: str, payload: bytes) -> None:
    """One persistent, mandatory publish, confirmed before it returns (as a worker's outcome is)."""
    channel.basic_publish(EXCHANGE, queue, payload, PERSISTENT, mandatory=True)


def run_hop(connection: Any) -> None:
    """Consume HOP_QUEUE one at a time; forward each message to the sink; then ack."""
    channel = connection.channel()
    channel.confirm_delivery()
    channel.basic_qos(prefetch_count=1)

    def forward(ch: Any, method: Any, properties: Any, payload: bytes) -> None:
        publish(ch, SINK_QUEUE, payload)
        ch.basic_ack(method.delivery_tag)

    channel.basic_consume(HOP_QUEUE, forward)
    channel.start_consuming()


def run_sink(connection: Any, client: redis.Redis) -> None:
    """Consume SINK_QUEUE; count each message in Redis, then ack it."""
    channel = connection.channel()
    channel.basic_qos(prefetch_count=SINK_PREFETCH)

    def record(ch: Any, method: Any, properties: Any, payload: bytes) -> None:
        client.incr(done_key(json.loads(payload)["tag"]))
        ch.basic_ack(method.delivery_tag)

    channel.basic_consume(SINK_QUEUE, record)
    channel.start_consuming()


def main(role: str) -> None:
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    connection = pika.BlockingConnection(pika.URLParameters(os.environ["PROVISION_BROKER_URL"]))
    if role == "hop":
        run_hop(connection)
    elif role == "sink":
        run_sink(connection, redis.Redis.from_url(os.environ["PROVISION_REDIS_URL"]))
    else:
        raise SystemExit(f"unknown role {role!r}: expected hop or sink")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
