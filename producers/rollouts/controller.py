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
from broker_config.dead_letters import dead_letter_delivery
from broker_config.senders import Senders
from contracts import OutcomeEvent, limits
from contracts.changes import utcnow
from contracts.events import ChangeEvent, RolloutState
from contracts.outcomes import ARRIVING
from contracts.telemetry import (
    ATTR_CHANGE_ID,
    ATTR_STATUS,
    inject,
    messaging,
    setup_tracing,
    span_from,
    tracer,
)
from contracts.truth import Layer
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
from producers.rollouts.authority import Signer, check_fresh, check_scope, digest_of, signer_of
from producers.rollouts.driver import Driver
from producers.rollouts.intake import Refusal, claimed_id, parse_event, plan_event
from producers.rollouts.planner import RolloutPlan
from producers.rollouts.store import Rollout, RolloutBook
from producers.rollouts.trail import record_event
from producers.store import issuers as seen_events
from producers.store.database import Database
from producers.truth.issuers import Registry
from producers.truth.revisions import RevisionStore

log = logging.getLogger("provision.controller")
#: How often active rollouts are advanced while no message arrives.
TICK_S = 0.1


class Controller(Reconnecting):
    """Drives rollouts until stopped."""

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
        #: The event in hand's verified signer and parsed event, for its audit entry.
        self._signer: Signer | None = None
        self._event: ChangeEvent | None = None
        #: Who may speak for which target (default: from the environment).
        self.senders = senders if senders is not None else Senders.from_env()

    def run(self) -> None:
        """Consume and drive until stopped; reconnect after RabbitMQ, Redis or PostgreSQL
        restarts. The database is opened (and its schema checked) once, at start."""
        self.db = Database.open(name="controller")
        try:
            self.serve(self._serve, name="controller", log=log)
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
        connection = connect_broker(self.endpoints)
        self.replies = Replies(self.endpoints, self.desk)
        try:
            declare(connection)
            self.publisher = Publisher(connection, self.key)
            self.driver = Driver(client, self.book, self.publisher, self.truth, assignments)
            self.gauges = controller_gauges(connection, db, self.driver.in_flight)
            channel = connection.channel()
            channel.basic_qos(prefetch_count=500)
            channel.basic_consume(EVENTS_QUEUE, self._on_event)
            channel.basic_consume(ROLLOUTS_QUEUE, self._on_outcome)
            channel.basic_consume(CHECKINS_QUEUE, self.replies.on_checkin)
            self._connected = True
            log.info("controller consuming %s and %s", EVENTS_QUEUE, ROLLOUTS_QUEUE)
            while not self._stopping:
                connection.process_data_events(time_limit=TICK_S)
                self.tick()
        finally:
            self.replies.close()
            if connection.is_open:
                connection.close()

    # -- intake ---------------------------------------------------------------------------

    def _on_event(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        """Admit one event; anything wrong with it (or raised for it) ends as a dead letter.

        Every event, admitted or refused, goes into the audit trail with who sent it."""
        self._signer = self._event = None
        try:
            self.admit(body, properties.headers)
        except Refusal as refusal:
            if refusal.change_id is None:
                refusal.change_id = claimed_id(body)
            if refusal.change_id:
                self.book.reject(refusal.change_id, refusal.reason, body)
            self._audit("event.refused", refusal.change_id, properties.headers, refusal.reason)
            dead_letter_delivery(
                channel, method, properties, body, reason=refusal.reason, source=EVENTS_QUEUE
            )
        except infrastructure():
            raise
        except Exception as exc:
            log.exception("event failed unexpectedly; dead-lettered")
            reason = f"unexpected error admitting the event: {exc!r}"[:500]
            dead_letter_delivery(
                channel, method, properties, body, reason=reason, source=EVENTS_QUEUE
            )
        channel.basic_ack(method.delivery_tag)

    def _audit(
        self,
        action: str,
        change_id: str | None,
        headers: dict[str, Any] | None,
        reason: str = "",
        *,
        targets: int | None = None,
        revision: int | None = None,
    ) -> None:
        """One audit entry for an accepted or refused event (see `trail`)."""
        with self.db.connection() as conn:
            record_event(
                conn,
                action,
                signer=self._signer,
                event=self._event,
                change_id=change_id,
                headers=headers,
                reason=reason,
                targets=targets,
                revision=revision,
            )

    def admit(self, body: bytes, headers: dict[str, Any] | None = None) -> str:
        """Verify, plan one event and start its rollout. The same bytes again are a no-op.

        The signature is checked before anything reads the body; the issuer it proves is
        the one recorded (`issued_by`), whatever the body says. One CONSUMER span continues
        the emitter's trace (with `validate` and `plan` inside); the rollout keeps its
        context, so every request it publishes, in whatever wave and after whatever
        restart, belongs to the emitter's trace.
        """
        attributes = messaging(EVENTS_QUEUE, **{"messaging.operation.type": "process"})
        with span_from(headers, f"process {EVENTS_QUEUE}", attributes=attributes) as span:
            try:
                change_id = self._admit(body, headers, span)
            except Refusal as refusal:
                span.set_attribute(ATTR_STATUS, "refused")
                if refusal.change_id:
                    span.set_attribute(ATTR_CHANGE_ID, refusal.change_id)
                raise
            return change_id

    def _admit(self, body: bytes, headers: dict[str, Any] | None, span: Any) -> str:
        try:
            limits.check_headers("change event", headers)
            limits.check_size("change event", body, limits.EVENT_BYTES, "EVENT_BYTES")
        except limits.LimitExceeded as exc:
            raise Refusal(str(exc), None) from exc
        with tracer().start_as_current_span("provision validate"):
            signer = self._signer = signer_of(body, headers, self.registry)
            event = parse_event(body)
        event = self._event = event.model_copy(update={"issued_by": signer.issuer})
        change_id = event.change_id
        span.set_attribute(ATTR_CHANGE_ID, change_id)
        digest = digest_of(body)
        with self.db.connection() as conn:
            seen = seen_events.seen_digest(conn, change_id)
        if seen is not None and seen != digest:
            raise Refusal(
                f"replayed: event_id {change_id} was accepted before with other bytes", change_id
            )
        if seen is None:
            check_fresh(event, utcnow())
        head = self.book.head(change_id)
        if head is not None and head.state == RolloutState.REJECTED and seen is None:
            head = None  # only a refusal holds the id: this verified event may take it
        if head is not None:
            if head.state == RolloutState.PLANNED:  # admitted, then a service was lost
                rollout = self.book.load(change_id)
                assert rollout is not None
                self._start(event, rollout.plan, rollout.revision)
            else:
                log.info("event %s seen before: nothing to do", change_id)
            return change_id
        with tracer().start_as_current_span("provision plan") as planning:
            admission = plan_event(
                event, self.inventory.targets, self.publisher.ensure_regions, self.truth
            )
            planning.set_attribute("provision.targets", len(admission.targets))
            planning.set_attribute("provision.waves", len(admission.plan.waves))
        check_scope(signer, event, admission.targets)
        if seen is None:
            with self.db.connection() as conn:
                if seen_events.see(conn, change_id, digest, signer.issuer) != digest:
                    raise Refusal(
                        f"replayed: event_id {change_id} was accepted with other bytes",
                        change_id,
                    )
        revision = admission.revision
        if revision is not None and event.revision is None:
            layer = Layer(
                event_id=change_id,
                targets=tuple(t.id for t in admission.targets),
                resources=event.resources,
            )
            revision = self.truth.record_layer(layer, author=event.issued_by).revision.number
        trace: dict[str, Any] = {}
        inject(trace)
        plan = admission.plan
        span.set_attribute(ATTR_STATUS, "admitted")
        if self.book.create(event, plan, admission.targets, trace=trace, revision=revision):
            self._audit(
                "event.accepted",
                change_id,
                headers,
                targets=len(admission.targets),
                revision=revision,
            )
            self._start(event, plan, revision)
        return change_id

    def _start(self, event: ChangeEvent, plan: RolloutPlan, revision: int | None) -> None:
        """Open the change in the ledger, then set the planned rollout running.

        Both steps may be repeated: an event whose admission a lost service cut short comes
        back, finds its rollout still planned, and finishes here.
        """
        change_id = event.change_id
        self.ledger.open_change(
            change_id,
            list(plan.targets),
            issued_by=event.issued_by,
            issued_at=utcnow(),
            dry_run=event.dry_run,
        )
        self.book.set_state(change_id, RolloutState.RUNNING)
        log.info(
            "rollout %s: %d targets in %d waves%s",
            change_id,
            len(plan.targets),
            len(plan.waves),
            f", revision {revision}" if revision else "",
        )

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
        """Answer pending check-ins, then drive every active rollout (see `driver`)."""
        self.replies.pump()
        self.driver.tick()
        if self.gauges is not None:
            self.gauges.tick()


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
