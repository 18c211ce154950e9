"""RabbitMQ topology: every exchange, queue and binding, and one idempotent `declare`.

Change requests are commands on the topic exchange `provision.changes`, routed by
`<region>.<environment>.<target>` to one durable queue per region. Outcomes are events on
`provision.results`. Whatever cannot be processed ends in `provision.dead` with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from contracts import ProvisioningError, limits

CHANGES_EXCHANGE = "provision.changes"
RESULTS_EXCHANGE = "provision.results"
RESULTS_QUEUE = "provision.results"
DEAD_EXCHANGE = "provision.dead"
DEAD_QUEUE = "provision.dead"
#: Change events from other services (and `provision apply`), for the controller.
EVENTS_EXCHANGE = "provision.events"
EVENTS_QUEUE = "provision.events"
#: The controller's own copy of every outcome event: rollouts advance on them.
ROLLOUTS_QUEUE = "provision.rollouts"
#: Pull agents' check-ins, answered by the controller through direct reply-to.
CHECKINS_EXCHANGE = "provision.checkins"
CHECKINS_QUEUE = "provision.checkins"
#: Check-ins waiting at most; beyond it the broker refuses the publish (the agent backs off).
CHECKINS_MAX_LENGTH = 2000
#: A worker's retries go back to its own region's queue through here (routing key
#: `<region>.…`), so no worker needs the default exchange, which reaches every queue.
RETRIES_EXCHANGE = "provision.retries"


def region_queue(region: str) -> str:
    """The durable queue holding region `region`'s change requests."""
    return f"{CHANGES_EXCHANGE}.{region}"


@dataclass(frozen=True)
class Exchange:
    name: str
    type: str


@dataclass(frozen=True)
class Queue:
    name: str
    exchange: str
    binding_key: str
    arguments: dict[str, Any] = field(default_factory=dict)
    #: Further (exchange, binding key) pairs.
    also: tuple[tuple[str, str], ...] = ()


EXCHANGES = (
    Exchange(CHANGES_EXCHANGE, "topic"),
    Exchange(RESULTS_EXCHANGE, "topic"),
    # Topic, not fanout: RabbitMQ checks topic permissions on topic exchanges only, and a
    # worker may dead-letter only under its own region's keys.
    Exchange(DEAD_EXCHANGE, "topic"),
    Exchange(EVENTS_EXCHANGE, "topic"),
    Exchange(CHECKINS_EXCHANGE, "topic"),
    Exchange(RETRIES_EXCHANGE, "topic"),
)


def _bounded(max_bytes: int, overflow: str = "reject-publish") -> dict[str, Any]:
    """Queue arguments that cap a queue's bytes, so no publisher can fill RabbitMQ's memory.

    `reject-publish` nacks the publish that would overflow (the publisher learns it and
    backs off); `drop-head` drops the oldest (for the dead letters, where the newest say
    most and no publisher should be stopped).
    """
    return {"x-max-length-bytes": max_bytes, "x-overflow": overflow}


#: Queues that exist whatever the regions are.
FIXED_QUEUES = (
    Queue(RESULTS_QUEUE, RESULTS_EXCHANGE, "#", _bounded(limits.QUEUE_BYTES)),
    Queue(DEAD_QUEUE, DEAD_EXCHANGE, "#", _bounded(limits.DEAD_QUEUE_BYTES, "drop-head")),
    Queue(
        EVENTS_QUEUE,
        EVENTS_EXCHANGE,
        "#",
        {"x-dead-letter-exchange": DEAD_EXCHANGE, **_bounded(limits.EVENTS_QUEUE_BYTES)},
    ),
    Queue(ROLLOUTS_QUEUE, RESULTS_EXCHANGE, "#", _bounded(limits.QUEUE_BYTES)),
    Queue(
        CHECKINS_QUEUE,
        CHECKINS_EXCHANGE,
        "#",
        {
            "x-max-length": CHECKINS_MAX_LENGTH,
            **_bounded(CHECKINS_MAX_LENGTH * limits.CHECKIN_BYTES),
        },
    ),
)


def region_queue_spec(region: str) -> Queue:
    """A region's change queue: classic, durable, bounded, dead-lettering into `provision.dead`.

    Classic rather than quorum: on RabbitMQ 3.10 Celery's retry path through quorum
    delayed delivery is known to drop messages (celery#9867), and one node gains no
    replication from quorum anyway. Redeliveries are bounded by the workers instead.
    """
    return Queue(
        region_queue(region),
        CHANGES_EXCHANGE,
        f"{region}.#",
        {
            "x-queue-type": "classic",
            "x-dead-letter-exchange": DEAD_EXCHANGE,
            **_bounded(limits.QUEUE_BYTES),
        },
        also=((RETRIES_EXCHANGE, f"{region}.#"),),
    )


class TopologyMismatch(ProvisioningError):
    """An entity exists on the broker with other properties than ours."""

    def __init__(self, kind: str, name: str, detail: str) -> None:
        self.kind = kind
        self.name = name
        super().__init__(
            f"{kind} {name!r} already exists on the broker with different properties: {detail}. "
            f"Delete it (or point PROVISION_BROKER_URL at another vhost) and declare again."
        )


class TopologyMissing(ProvisioningError):
    """An entity is missing and this user may not declare it (no configure right)."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind = kind
        self.name = name
        super().__init__(
            f"{kind} {name!r} does not exist and this broker user may not declare it: run "
            "`provision access apply` (or `provision broker declare`) as an administrator first"
        )


def declare(connection: Any, regions: Iterable[str] = ()) -> list[str]:
    """Declare the whole topology on a pika BlockingConnection. Safe to run any number of times.

    Each entity is declared on its own channel, so a mismatch closes only that channel and
    becomes a TopologyMismatch that names the entity, never a crash of the caller's channel.
    A user without configure rights (every role but an administrator) cannot declare: for it
    this only checks, passively, that each exchange and queue exists (TopologyMissing if not).
    A `provision.dead` left as a fanout exchange by an older version becomes a topic one.

    Returns:
        The names of the queues declared.
    """
    import pika.exceptions

    def attempt(kind: str, name: str, action: Any, check: Any) -> None:
        channel = connection.channel()
        try:
            action(channel)
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code != 403:
                raise TopologyMismatch(kind, name, exc.reply_text) from exc
            channel = connection.channel()
            try:
                check(channel)
            except pika.exceptions.ChannelClosedByBroker as missing:
                raise TopologyMissing(kind, name) from missing
        if channel.is_open:
            channel.close()

    for exchange in EXCHANGES:

        def make(ch: Any, e: Exchange = exchange) -> None:
            ch.exchange_declare(e.name, exchange_type=e.type, durable=True)

        def exists(ch: Any, e: Exchange = exchange) -> None:
            ch.exchange_declare(e.name, passive=True)

        try:
            attempt("exchange", exchange.name, make, exists)
        except TopologyMismatch:
            if exchange.name != DEAD_EXCHANGE:
                raise
            attempt("exchange", exchange.name, _retyped, exists)
    queues = [*FIXED_QUEUES, *(region_queue_spec(r) for r in sorted(set(regions)))]
    for queue in queues:

        def bind(ch: Any, q: Queue = queue) -> None:
            ch.queue_declare(q.name, durable=True, arguments=q.arguments or None)
            for source, key in ((q.exchange, q.binding_key), *q.also):
                ch.queue_bind(q.name, source, routing_key=key)

        def found(ch: Any, q: Queue = queue) -> None:
            ch.queue_declare(q.name, passive=True)

        attempt("queue", queue.name, bind, found)
    return [q.name for q in queues]


def _retyped(channel: Any) -> None:
    """Replace the old fanout `provision.dead` by a topic one (its queue and messages stay)."""
    channel.exchange_delete(DEAD_EXCHANGE)
    channel.exchange_declare(DEAD_EXCHANGE, exchange_type="topic", durable=True)
