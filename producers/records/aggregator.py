"""The aggregator: consumes `provision.results` and records outcomes in batches.

Messages are collected while they keep coming and written as soon as none is waiting (or
the batch is full, or has waited FLUSH_AFTER_S): a lone outcome is written at once, and
under load a batch grows by itself with what arrived during the previous write, so
batching costs latency only when there is a backlog to absorb. The batch's outcomes,
compliance observations and applied revisions are written in ONE statement (with the
batch's refusals, if any, in one transaction), and only after it commits are its messages
acked (one multiple ack). A lost
database or broker acks nothing: the process reconnects and the messages come back, and a
redelivered outcome changes nothing (its event id is unique). A message that cannot be
read is dead-lettered and acked alone; a batch that fails for a reason of its own is
written one message at a time, so only the message at fault is dead-lettered.

Only an outcome whose sender (its AMQP `user_id`, checked by RabbitMQ) may speak for its
target is written (`broker_config.senders`); any other is recorded as a refusal with the
reason, in the same transaction, and acked with its batch.
"""

from __future__ import annotations

import logging
import signal
import time
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import Link
from pydantic import ValidationError

from broker_config import RESULTS_QUEUE, Endpoints, declare
from broker_config.connections import connect_broker
from broker_config.dead_letters import dead_letter_delivery
from broker_config.senders import Senders
from contracts import ContractError, OutcomeEvent, limits
from contracts.outcomes import ARRIVING
from contracts.telemetry import (
    ATTR_CHANGE_ID,
    ATTR_STATUS,
    ATTR_TARGET,
    MESSAGING_OPERATION,
    messaging,
    setup_tracing,
    span_from,
    tracer,
)
from producers.messaging.failures import infrastructure
from producers.messaging.serving import Reconnecting
from producers.metrics.registry import outcome_recorded
from producers.records.batches import Held, forged_sequence, write
from producers.records.senders import judge, refuse
from producers.store.database import Database

log = logging.getLogger("provision.aggregator")

#: Unacked outcomes held at once, and so the largest batch: one transaction's worth.
PREFETCH = 200
#: The longest a held batch waits for more before it is written, when outcomes keep
#: arriving; when none is waiting, the batch is written at once.
FLUSH_AFTER_S = 0.03
#: How long the aggregator listens for the next outcome before writing what it holds: none.
#: It takes what has already reached its socket and writes. A batch grows by itself under
#: load (what arrives during one write is the next batch), and waiting 1 ms for more (as it
#: did) caught a second outcome in few cases at the rates of the latency benchmark, while
#: adding that millisecond to every lone outcome.
QUIET_S = 0.0
#: How long one wait for messages lasts when nothing is held (how soon a stop is noticed).
IDLE_WAIT_S = 0.2


class Aggregator(Reconnecting):
    """Moves outcome events from RabbitMQ into the system of record until stopped."""

    def __init__(self, endpoints: Endpoints, db: Database, senders: Senders | None = None) -> None:
        self.endpoints = endpoints
        self.db = db
        #: Who may speak for which target (default: PROVISION_ACCESS_PREFIX and
        #: PROVISION_TRUSTED_SENDERS from the environment).
        self.senders = senders if senders is not None else Senders.from_env()
        self.recorded = 0
        #: Outcomes refused because their sender may not speak for their target.
        self.refused = 0
        self._held: list[Held] = []
        #: When the held batch must be written (monotonic), None while nothing is held.
        self._due: float | None = None
        #: The span contexts of the held outcomes: the batch's record span links to each.
        self._contexts: list[Any] = []

    def run(self) -> None:
        """Consume until stopped (`stop` writes and acks the batch in hand first),
        reconnecting after RabbitMQ or PostgreSQL comes back."""
        self.serve(self._consume, name="aggregator", log=log)

    def _consume(self) -> None:
        connection = connect_broker(self.endpoints)
        try:
            declare(connection)
            channel = connection.channel()
            channel.basic_qos(prefetch_count=PREFETCH)
            channel.basic_consume(RESULTS_QUEUE, self._on_message)
            self._connected = True
            log.info("aggregator consuming %s", RESULTS_QUEUE)
            while not self._stopping:
                held = len(self._held)
                wait = IDLE_WAIT_S if self._due is None else self._due - time.monotonic()
                connection.process_data_events(
                    time_limit=max(0.0, min(wait, QUIET_S) if held else wait)
                )
                if self._due is not None and (
                    len(self._held) >= PREFETCH
                    or len(self._held) == held  # nothing more came: write what is held
                    or time.monotonic() >= self._due
                ):
                    self._flush(channel)
            if self._held:
                self._flush(channel)
        finally:
            self._held, self._due, self._contexts = [], None, []  # unacked: they come back
            if connection.is_open:
                connection.close()

    def _on_message(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        """Hold one outcome for the next batch; a bad one is dead-lettered at once."""
        received_at = datetime.now(UTC)
        headers = properties.headers if isinstance(properties.headers, dict) else {}
        try:
            limits.check_json("outcome", body, limits.OUTCOME_BYTES, "OUTCOME_BYTES")
            event = OutcomeEvent.model_validate_json(body, context={ARRIVING: True})
        except limits.LimitExceeded as exc:
            return self._dead_letter(channel, method, properties, body, str(exc))
        except ValidationError as exc:
            reason = f"invalid outcome event: {ContractError.from_validation('outcome', exc)}"
            return self._dead_letter(channel, method, properties, body, reason)
        forged = forged_sequence(event, received_at.timestamp())
        if forged is not None:
            return self._dead_letter(channel, method, properties, body, forged)
        attributes = messaging(
            RESULTS_QUEUE,
            event.outcome_id,
            **{
                MESSAGING_OPERATION: "process",
                ATTR_CHANGE_ID: event.change_id,
                ATTR_TARGET: event.target,
                ATTR_STATUS: event.status.value,
            },
        )
        with span_from(headers, f"process {RESULTS_QUEUE}", attributes=attributes) as span:
            self._contexts.append(span.get_span_context())
            if not self._held:
                self._due = time.monotonic() + FLUSH_AFTER_S
            self._held.append(Held(method, properties, body, event, received_at))
        return None

    def _flush(self, channel: Any) -> None:
        """Write the held batch in one transaction, then ack it; a lost service raises."""
        batch, self._held, self._due = self._held, [], None
        links, self._contexts = [Link(c) for c in self._contexts if c.is_valid], []
        try:
            with (
                tracer().start_as_current_span(
                    "provision record", links=links, attributes={"provision.outcomes": len(batch)}
                ),
                self.db.connection() as conn,
            ):
                kept, new = self._write(conn, batch)
        except infrastructure():
            raise  # nothing acked: the messages come back after the reconnect
        except Exception:
            log.exception("a batch of %d outcomes failed; writing them one by one", len(batch))
            return self._one_by_one(channel, batch)
        channel.basic_ack(batch[-1].method.delivery_tag, multiple=True)
        self.recorded += kept
        self.refused += len(batch) - kept
        _count(batch, new)
        return None

    def _write(self, conn: Any, batch: list[Held]) -> tuple[int, list[str]]:
        """The batch's refusals and its admitted outcomes, on `conn`: how many were admitted,
        and the ids of the outcomes recorded for the first time (for the metrics)."""
        kept, refused = judge(
            conn,
            batch,
            self.senders,
            event_of=lambda h: h.event,
            properties_of=lambda h: h.properties,
        )
        # The batch's write is one statement, atomic by itself on the aggregator's
        # autocommit connection; with refusals to record beside it, a transaction holds both.
        with conn.transaction() if refused else nullcontext():
            for held, sender, why in refused:
                refuse(conn, held.event, sender, why, by="aggregator")
            new = write(conn, kept) if kept else []
        return len(kept), new

    def _one_by_one(self, channel: Any, batch: list[Held]) -> None:
        """Each message in a transaction of its own; the ones that still fail are dead."""
        for held in batch:
            try:
                with self.db.connection() as conn:
                    kept, new = self._write(conn, [held])
            except infrastructure():
                raise
            except Exception as exc:
                log.exception("an outcome failed unexpectedly")
                reason = f"unexpected error recording the outcome: {exc!r}"[:500]
                self._dead_letter(channel, held.method, held.properties, held.body, reason)
                continue
            channel.basic_ack(held.method.delivery_tag)
            self.recorded += kept
            self.refused += 1 - kept
            _count([held], new)

    def _dead_letter(
        self, channel: Any, method: Any, properties: Any, body: bytes, reason: str
    ) -> None:
        dead_letter_delivery(channel, method, properties, body, reason=reason, source=RESULTS_QUEUE)
        channel.basic_ack(method.delivery_tag)


def _count(batch: list[Held], new: list[str]) -> None:
    """provision_outcomes_total: the outcomes this commit recorded for the first time."""
    fresh = set(new)
    for held in batch:
        if held.event.outcome_id in fresh:
            fresh.discard(held.event.outcome_id)
            outcome_recorded(held.event.status.value, held.method.routing_key)


def run_aggregator(endpoints: Endpoints, senders: Senders | None = None) -> None:
    """`provision aggregator`: run until SIGTERM or SIGINT.

    The database is opened once, before anything else (its schema check says what to
    run when it is behind), and shared by every reconnect.
    """
    setup_tracing("provision-aggregator")
    with Database.open(max_size=2, name="provision-aggregator", autocommit=True) as db:
        aggregator = Aggregator(endpoints, db, senders)
        signal.signal(signal.SIGTERM, aggregator.stop)
        signal.signal(signal.SIGINT, aggregator.stop)
        aggregator.run()
