"""The dead letters in `provision.dead`: list, show, replay and purge them.

Browsing takes messages with `basic_get` and never acks them, so closing the channel puts
them back; replay and purge ack only the ones chosen. Replay republishes the original
message (death headers stripped, a replay id added) to where it was first sent, with
confirms; the workers' idempotency makes replaying an already applied request harmless.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from broker_config import DEAD_QUEUE
from broker_config.connections import speaks_as
from contracts.dead import (
    DEAD_AT,
    DEATH_HEADERS,
    REPLAY,
    attempts_of,
    reason_of,
    trace_id_of,
)
from contracts.redaction import redact_text, stand_in
from producers.errors import PublishError

#: Dead letters read at most, so a flood cannot exhaust the CLI's memory.
BROWSE_LIMIT = 100_000


@dataclass(frozen=True)
class DeadLetter:
    """One message in `provision.dead`, with why it died and where it came from."""

    id: str
    reason: str
    source: str
    exchange: str
    routing_key: str
    attempts: int | None
    trace_id: str | None
    dead_at: str | None
    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    content_type: str | None = None
    correlation_id: str | None = None

    @property
    def change(self) -> tuple[str | None, str | None]:
        """(change id, target id) of the original request, when its body says so."""
        try:
            request = json.loads(self.body)[1]["request"]
            return request.get("change_id"), (request.get("target") or {}).get("id")
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            return None, None

    def as_json(self, *, with_body: bool = False) -> dict[str, Any]:
        """The `dlq list --json` row (and, for `show`, the original body and headers)."""
        change_id, target = self.change
        row: dict[str, Any] = {
            "id": self.id,
            "reason": self.reason,
            "source": self.source,
            "exchange": self.exchange,
            "routing_key": self.routing_key,
            "attempts": self.attempts,
            "trace_id": self.trace_id,
            "dead_at": self.dead_at,
            "change_id": change_id,
            "target": target,
        }
        if with_body:
            body = self.body.decode("utf-8", errors="replace")
            row["body"] = redact_text(body)
            row["headers"] = {k: _plain(v) for k, v in self.headers.items()}
            if row["body"] != body:  # Celery's reprs of the arguments would show it too
                for key in ("argsrepr", "kwargsrepr"):
                    if key in row["headers"]:
                        row["headers"][key] = stand_in(str(row["headers"][key]))
        return row


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def dead_letter_id(headers: dict[str, Any], correlation_id: str | None, body: bytes) -> str:
    """A dead letter's id: its task id, else its correlation id, else a hash of its body."""
    for value in (headers.get("id"), correlation_id):
        if isinstance(value, str) and value:
            return value
    return "sha256:" + hashlib.sha256(body).hexdigest()[:16]


def _parse(properties: Any, body: bytes) -> DeadLetter:
    headers = dict(properties.headers or {})
    reason, source, exchange, routing_key = reason_of(headers)
    return DeadLetter(
        id=dead_letter_id(headers, properties.correlation_id, body),
        reason=reason or "(no reason recorded)",
        source=source,
        exchange=exchange,
        routing_key=routing_key,
        attempts=attempts_of(headers),
        trace_id=trace_id_of(headers),
        dead_at=str(headers[DEAD_AT]) if headers.get(DEAD_AT) else None,
        body=body,
        headers=headers,
        content_type=properties.content_type,
        correlation_id=properties.correlation_id,
    )


class DeadLetters:
    """The dead-letter queue, over one pika BlockingConnection."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def entries(self, limit: int = BROWSE_LIMIT) -> list[DeadLetter]:
        """Every dead letter (the oldest `limit`), oldest first; the queue is left as it was."""
        return self._visit(lambda letter: False, limit)[0]

    def find(self, letter_id: str) -> list[DeadLetter]:
        """The dead letters with this id (a hash id can match several identical bodies)."""
        return [letter for letter in self.entries() if letter.id == letter_id]

    def purge(self, ids: Iterable[str] | None) -> list[DeadLetter]:
        """Delete the dead letters with these ids (None: all). Returns what was deleted."""
        wanted = None if ids is None else set(ids)
        return self._visit(lambda letter: wanted is None or letter.id in wanted)[1]

    def replay(
        self,
        ids: Iterable[str] | None,
        *,
        dry_run: bool = False,
        replayed: list[DeadLetter] | None = None,
    ) -> list[DeadLetter]:
        """Republish the originals with these ids (None: all) to where they were first sent.

        A dead letter whose original exchange is unknown is left in place. With `dry_run`
        nothing is published or removed. Raises PublishError if the broker refuses one;
        `replayed`, when given, holds every letter republished so far even then (for the
        audit trail: a replay that stopped half-way is still recorded for what it did).
        """
        replayed = [] if replayed is None else replayed
        wanted = None if ids is None else set(ids)

        def chosen(letter: DeadLetter) -> bool:
            return (wanted is None or letter.id in wanted) and bool(letter.exchange)

        if dry_run:
            return [letter for letter in self.entries() if chosen(letter)]
        publisher = self._connection.channel()
        publisher.confirm_delivery()

        def replay_one(letter: DeadLetter) -> bool:
            if not chosen(letter):
                return False
            self._republish(publisher, letter)
            replayed.append(letter)
            return True

        try:
            return self._visit(replay_one)[1]
        finally:
            if publisher.is_open:
                publisher.close()

    @staticmethod
    def _republish(channel: Any, letter: DeadLetter) -> None:
        import pika
        import pika.exceptions

        headers = {k: v for k, v in letter.headers.items() if k not in DEATH_HEADERS}
        headers[REPLAY] = uuid.uuid4().hex
        if "task" in headers:  # letters dead-lettered before workers wrote `lang` pass admission
            headers.setdefault("lang", "py")
        properties = pika.BasicProperties(
            content_type=letter.content_type or "application/json",
            content_encoding="utf-8",
            correlation_id=letter.correlation_id,
            delivery_mode=pika.DeliveryMode.Persistent,
            headers=headers,
            user_id=speaks_as(channel),
        )
        try:
            channel.basic_publish(
                letter.exchange, letter.routing_key, letter.body, properties, mandatory=True
            )
        except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as exc:
            raise PublishError(
                f"dead letter {letter.id}: {letter.exchange}/{letter.routing_key} refused it "
                f"({type(exc).__name__}); it stays in {DEAD_QUEUE}"
            ) from exc
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code != 403:
                raise
            raise PublishError(
                f"dead letter {letter.id}: this broker user may not publish on "
                f"{letter.exchange}/{letter.routing_key} (ACCESS_REFUSED); it stays in "
                f"{DEAD_QUEUE}. Replay it with the credentials of the role that sent it "
                "(a change request: the controller's)"
            ) from exc

    def _visit(
        self, take: Callable[[DeadLetter], bool], limit: int = BROWSE_LIMIT
    ) -> tuple[list[DeadLetter], list[DeadLetter]]:
        """Get every message once; ack those `take` accepts; the rest go back on close.

        Returns:
            (every dead letter seen, the ones taken).
        """
        channel = self._connection.channel()
        seen: list[DeadLetter] = []
        taken: list[DeadLetter] = []
        try:
            for _ in range(min(limit, BROWSE_LIMIT)):
                method, properties, body = channel.basic_get(DEAD_QUEUE, auto_ack=False)
                if method is None:
                    break
                letter = _parse(properties, body)
                seen.append(letter)
                if take(letter):
                    channel.basic_ack(method.delivery_tag)
                    taken.append(letter)
        finally:
            if channel.is_open:
                channel.close()
        return seen, taken
