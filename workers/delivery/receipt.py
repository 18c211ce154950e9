"""What the worker knows of the delivery in hand, for the outcome and for on-call.

`provision trace` explains a target from the system's own records, so what only the worker
sees travels in the outcome: how long the message waited in the queue, whether the broker
had delivered it before, and every earlier try of the same request (where it ran, why it
was tried again, the backoff chosen). Earlier tries travel from try to try in the retry
message's `tries` argument; the task notes the delivery in hand here when it begins, and
`report.outcome` reads it, so no outcome is built without it.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from contracts import ContractError
from contracts.outcomes import RETRIES_KEPT, Retry

_TRIES: TypeAdapter[list[Retry]] = TypeAdapter(list[Retry])


@dataclass(frozen=True)
class Receipt:
    """The delivery in hand: when it began, how long it had waited, and the tries before."""

    worker: str
    received_at: datetime
    queue_wait_s: float | None = None
    redelivered: bool = False
    tries: tuple[Retry, ...] = field(default=())

    def retried(
        self, *, kind: str, attempt: int, at: datetime, reason: str, backoff_s: float
    ) -> list[dict[str, Any]]:
        """The `tries` argument of the retry message: these tries and this one (JSON)."""
        this = Retry(
            kind="wait" if kind == "wait" else "retry",
            attempt=max(1, attempt),
            worker=self.worker[:200],
            received_at=self.received_at,
            queue_wait_s=self.queue_wait_s,
            at=at,
            reason=" ".join(reason.split())[:1000],
            backoff_s=max(0.0, backoff_s),
        )
        kept = (*self.tries, this)[-RETRIES_KEPT:]
        return [t.model_dump(mode="json") for t in kept]


_current: ContextVar[Receipt | None] = ContextVar("provision_receipt", default=None)


def parse_tries(value: Any) -> tuple[Retry, ...]:
    """The earlier tries a retry message carries; ContractError names what is wrong."""
    if value is None:
        return ()
    try:
        tries = _TRIES.validate_python(value)
    except ValidationError as exc:
        raise ContractError.from_validation("task", exc, prefix="tries") from None
    return tuple(tries[-RETRIES_KEPT:])


def queue_wait(received_at: datetime, sent_at: datetime | None) -> float | None:
    """Seconds between the message becoming due and the worker beginning it (never < 0)."""
    if sent_at is None or sent_at.tzinfo is None:
        return None
    return max(0.0, (received_at - sent_at).total_seconds())


def due_at(eta: Any) -> datetime | None:
    """A retry's ETA header as an aware time, or None."""
    if not isinstance(eta, str | datetime):
        return None
    try:
        when = eta if isinstance(eta, datetime) else datetime.fromisoformat(eta)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def begin(receipt: Receipt) -> None:
    _current.set(receipt)


def current() -> Receipt | None:
    return _current.get()
