"""Admission: a change event taken in, verified, planned, booked and its rollout started.

The controller's intake half, apart from its serve loop (`controller`): `Admitting` is mixed
into `Controller` and reads the books the loop builds for each connection (`book`, `ledger`,
`db`, `registry`, `inventory`, `truth`, `publisher`), so a test may hand it books of its own
and call `admit` without a broker.

An event is acked only once its rollout is committed: a lost service raises out of
`_on_event` before the ack, and the event comes back (a repeated id is a no-op).
"""

from __future__ import annotations

import logging
from typing import Any

from broker_config import EVENTS_QUEUE
from broker_config.dead_letters import dead_letter_delivery
from contracts import limits
from contracts.changes import utcnow
from contracts.events import ChangeEvent, RolloutState
from contracts.telemetry import (
    ATTR_CHANGE_ID,
    ATTR_STATUS,
    inject,
    messaging,
    span_from,
    tracer,
)
from contracts.truth import Layer
from producers.messaging.failures import infrastructure
from producers.messaging.publisher import Publisher
from producers.records.inventory import InventoryStore
from producers.records.ledger import Ledger
from producers.rollouts.authority import check_fresh, check_scope, digest_of, signer_of
from producers.rollouts.intake import Refusal, claimed_id, parse_event, plan_event
from producers.rollouts.planner import RolloutPlan
from producers.rollouts.store import RolloutBook
from producers.rollouts.trail import Auditing
from producers.store import issuers as seen_events
from producers.store.database import Database
from producers.truth.issuers import Registry
from producers.truth.revisions import RevisionStore

log = logging.getLogger("provision.controller")


class Admitting(Auditing):
    """Admits change events (a mixin, like `Reconnecting`): the books it reads are set by
    the class it is mixed into; each event's audit entry is `Auditing`'s."""

    db: Database
    book: RolloutBook
    ledger: Ledger
    registry: Registry
    inventory: InventoryStore
    truth: RevisionStore
    publisher: Publisher

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
            self._audit_refused(refusal, properties)
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
