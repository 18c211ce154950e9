"""`provision controller`: takes change events, plans them, and drives each rollout.

One loop, one connection: it consumes `provision.events` (intake) and `provision.rollouts`
(its copy of every outcome), and between messages it advances every active rollout:
publishing the current wave within its pacing limits, halting on a blown error budget,
moving to the next wave once the current one is done.

Every rollout is in the system of record (PostgreSQL): a restart of the controller, of
Redis (or its FLUSHDB) or of PostgreSQL resumes every rollout where it stood. Redis keeps
only pacing leases and rates, which may be forgotten. A lost service ends the serve loop
before the message in hand is acked, so an event is acked only once its rollout is
committed; the loop reconnects and takes the message again (a repeated id is a no-op).

An outcome copy counts only when its sender (its AMQP `user_id`) may speak for its target
(`broker_config.senders`, the target's region from the rollout); any other is recorded as a
refusal and frees nothing.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from broker_config import (
    CHECKINS_QUEUE,
    EVENTS_QUEUE,
    ROLLOUTS_QUEUE,
    Endpoints,
    declare,
)
from broker_config.connections import connect_broker, connect_redis
from broker_config.senders import Senders
from contracts import OutcomeEvent, limits
from contracts.outcomes import ARRIVING
from contracts.telemetry import setup_tracing
from producers.messaging.failures import infrastructure
from producers.messaging.publisher import Publisher
from producers.messaging.serving import Reconnecting
from producers.metrics.gauges import ControllerGauges, controller_gauges
from producers.pull.assignments import Assignments
from producers.pull.desk import CheckinDesk
from producers.pull.replies import Replies
from producers.records.inventory import InventoryStore
from producers.records.ledger import Ledger
from producers.records.senders import refuse, sender_of
from producers.rollouts.admission import Admitting
from producers.rollouts.driver import Driver
from producers.rollouts.heads import Heads, listening
from producers.rollouts.refusal_limit import RefusalLimit
from producers.rollouts.store import Rollout, RolloutBook
from producers.store.database import Database
from producers.truth.issuers import Registry
from producers.truth.revisions import RevisionStore

log = logging.getLogger("provision.controller")
#: How often active rollouts are advanced while no message arrives.
TICK_S = 0.1
#: ...and at most this often while messages keep arriving: outcome copies come a few at a
#: time, and driving after each (the book's heads, then a batch of requests: a round trip
#: each to PostgreSQL, Redis and RabbitMQ) spent more than half the controller's CPU on
#: batches of two or three requests.
DRIVE_S = 0.02


class Controller(Admitting, Reconnecting):
    """Drives rollouts until stopped; admits change events (`Admitting`)."""

    def __init__(
        self,
        endpoints: Endpoints,
        *,
        key: Ed25519PrivateKey,
        checkin_rate_per_s: float = 50.0,
        checkin_burst: int = 10,
        senders: Senders | None = None,
    ) -> None:
        self.endpoints = endpoints
        #: Signs every change request and every rendered state (layers) it publishes.
        self.key = key
        self.checkin_rate_per_s = checkin_rate_per_s
        self.checkin_burst = checkin_burst
        self.gauges: ControllerGauges | None = None
        self._signer = None
        self._event = None
        self.refusals = RefusalLimit()
        #: Who may speak for which target (default: from the environment).
        self.senders = senders if senders is not None else Senders.from_env()
        #: When rollouts may be driven next, and whether a tick put that off.
        self._drive_at = 0.0
        self._driving_due = False

    def run(self) -> None:
        """Consume and drive until stopped; reconnect after RabbitMQ, Redis or PostgreSQL
        restarts. The database is opened (and its schema checked) once, at start."""
        self.db = Database.open(name="controller")
        try:
            self.serve(self._serve, name="controller", log=log)
            self._audit_suppressed(everything=True)  # a clean stop: the counts still open
        finally:
            self.db.close()

    def _serve(self) -> None:
        """One connection's life: every book and cache is built afresh from the records."""
        client = connect_redis(self.endpoints)
        db = self.db
        self.book = RolloutBook(db, client)
        # Until the records move to PostgreSQL (issue 13) these still type their first
        # argument as a Redis client: the agreed signatures are the ones used here.
        self.ledger = Ledger(db)
        self.inventory = InventoryStore(db)
        self.truth = RevisionStore(db, signer=self.key)
        self.registry = Registry(db, self.truth)
        self.desk = CheckinDesk(
            db,
            client,
            rate_per_s=self.checkin_rate_per_s,
            burst=self.checkin_burst,
        )
        assignments = Assignments(db)
        with listening(db.url) as listener:
            self._drive(client, assignments, Heads(self.book, listener))

    def _drive(self, client: Any, assignments: Assignments, heads: Heads) -> None:
        connection = connect_broker(self.endpoints)
        db = self.db
        self.replies = Replies(self.endpoints, self.desk)
        try:
            declare(connection)
            self.publisher = Publisher(connection, self.key)
            self.driver = Driver(client, self.book, self.publisher, self.truth, assignments, heads)
            self.gauges = controller_gauges(connection, db, self.driver.in_flight)
            channel = connection.channel()
            channel.basic_qos(prefetch_count=500)
            channel.basic_consume(EVENTS_QUEUE, self._on_event)
            channel.basic_consume(ROLLOUTS_QUEUE, self._on_outcome)
            channel.basic_consume(CHECKINS_QUEUE, self.replies.on_checkin)
            self._connected = True
            log.info("controller consuming %s and %s", EVENTS_QUEUE, ROLLOUTS_QUEUE)
            while not self._stopping:
                connection.process_data_events(time_limit=self._wait_s())
                self.tick()
        finally:
            self.replies.close()
            if connection.is_open:
                connection.close()

    def _on_event(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        """Admit one event (`Admitting`); the rollout it booked is driven at the next tick,
        not when its announcement arrives."""
        super()._on_event(channel, method, properties, body)
        self.driver.heads.moved()

    # -- outcomes -------------------------------------------------------------------------

    def _on_outcome(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        """An outcome of a rollout: its in-flight slot frees, and the rollout's counts are
        read anew from the aggregator's records. A bad one is acked here: the aggregator
        dead-letters its own copy."""
        try:
            limits.check_json("outcome", body, limits.OUTCOME_BYTES, "OUTCOME_BYTES")
            event = OutcomeEvent.model_validate_json(body, context={ARRIVING: True})
            sender = sender_of(properties)
            self.driver.noted(event, lambda rollout: self._may_speak(rollout, event, sender))
        except infrastructure():
            raise
        except (ValidationError, limits.LimitExceeded):
            pass
        except Exception:
            log.exception("outcome copy failed unexpectedly; the aggregator keeps its own")
        channel.basic_ack(method.delivery_tag)

    def _may_speak(self, rollout: Rollout, event: OutcomeEvent, sender: str | None) -> bool:
        """True when `sender` may speak for the outcome's target; else the refusal is
        recorded and the copy frees nothing."""
        target = rollout.targets.get(event.target)
        why = self.senders.refusal(sender, event.target, target.region if target else None)
        if why is None:
            return True
        with self.db.connection() as conn:
            refuse(conn, event, sender, why, by="controller")
        return False

    # -- driving --------------------------------------------------------------------------

    def tick(self) -> None:
        """Answer pending check-ins, then drive every active rollout (see `driver`), at most
        every DRIVE_S."""
        self.replies.pump()
        now = time.monotonic()
        self._driving_due = now < self._drive_at
        if self._driving_due:
            return
        self._drive_at = now + DRIVE_S
        self.driver.tick()
        self._audit_suppressed()
        if self.gauges is not None:
            self.gauges.tick()

    def _wait_s(self) -> float:
        """How long to wait for messages: TICK_S; or, when a drive was put off by DRIVE_S or
        a rollout's counts are settling (a wave may just have ended), until the next drive."""
        if not (self._driving_due or self.driver.wave_counts.settling()):
            return TICK_S
        return min(TICK_S, max(0.0, self._drive_at - time.monotonic()))


def run_controller(
    endpoints: Endpoints,
    *,
    checkin_rate_per_s: float,
    checkin_burst: int,
    key: Ed25519PrivateKey,
    senders: Senders | None = None,
) -> None:
    """`provision controller`: run until SIGTERM or SIGINT."""
    setup_tracing("provision-controller")
    controller = Controller(
        endpoints,
        key=key,
        checkin_rate_per_s=checkin_rate_per_s,
        checkin_burst=checkin_burst,
        senders=senders,
    )
    signal.signal(signal.SIGTERM, controller.stop)
    signal.signal(signal.SIGINT, controller.stop)
    controller.run()
