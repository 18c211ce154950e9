"""Publisher confirms in a window: many messages in flight on one channel, each confirmed.

A BlockingChannel in confirm mode waits for every message's confirm before the next is
sent: one round trip per message, and the broker's fsync batching never gets a batch. A
window keeps up to `size` messages unconfirmed and collects their acks (single or
`multiple`) as they come, so a fan-out costs one round trip per window, not per target.
Nothing is weaker: every message is still persistent, `mandatory`, and confirmed before
`drain` returns; a message the broker returned (no queue for its routing key) or nacked is
reported with its key, never taken for delivered.

pika's BlockingChannel has no such mode, so the window drives the channel's own
`pika.channel.Channel` (`_impl`) for the publishes and their confirms, and waits with the
connection's `_flush_output`, as BlockingChannel's own confirmed publish does: it moves
bytes and runs the channel's callbacks, but dispatches no consumer's deliveries, so a
controller that consumes on the same connection is never re-entered mid-wave (those wait
for its next `process_data_events`). pika 1.x keeps these stable.
"""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from producers.errors import PublishError

#: Messages in flight at once: the reference brief measured a window of 500 at ~8.6k msg/s.
WINDOW = 256
#: The longest wait for one confirm before the broker is called unresponsive.
CONFIRM_TIMEOUT_S = 30.0


@dataclass
class Untaken:
    """A message the broker did not take: its key (the caller's name for it) and why."""

    key: str
    reason: str


@dataclass
class _State:
    pending: dict[int, tuple[str, str]] = field(default_factory=dict)  # tag → (key, corr. id)
    returned: set[str] = field(default_factory=set)  # correlation ids the broker returned
    untaken: list[Untaken] = field(default_factory=list)


class ConfirmWindow:
    """Publish on a channel of its own with up to `size` unconfirmed messages.

    Every message needs a unique `correlation_id`: a returned message is matched by it.
    """

    def __init__(self, connection: Any, size: int = WINDOW) -> None:
        self._connection = connection
        self._channel = connection.channel()
        self._size = size
        self._next_tag = 1
        self._state = _State()
        impl = self._channel._impl
        selected: list[bool] = []
        impl.confirm_delivery(
            ack_nack_callback=self._on_confirm, callback=lambda _frame: selected.append(True)
        )
        self._wait(lambda: bool(selected), "confirm.select")
        impl.add_on_return_callback(self._on_return)

    def publish(
        self, key: str, exchange: str, routing_key: str, body: bytes, properties: Any
    ) -> None:
        """Send one message (waiting first while the window is full)."""
        self._wait(lambda: len(self._state.pending) < self._size, "a confirm")
        self._raise_if_closed()
        self._channel._impl.basic_publish(
            exchange=exchange,
            routing_key=routing_key,
            body=body,
            properties=properties,
            mandatory=True,
        )
        self._state.pending[self._next_tag] = (key, str(properties.correlation_id))
        self._next_tag += 1
        self._connection._flush_output()  # send it (and take in confirms already there)

    def drain(self) -> list[Untaken]:
        """Wait for every confirm; the messages the broker did not take, in order."""
        self._wait(lambda: not self._state.pending, "the last confirms")
        untaken, self._state.untaken = self._state.untaken, []
        return untaken

    def close(self) -> None:
        """Let go of the channel (nothing to do when the broker or connection closed it)."""
        with suppress(Exception):
            if self._channel.is_open:
                self._channel.close()

    def _on_return(self, _channel: Any, _method: Any, properties: Any, _body: bytes) -> None:
        """A mandatory message that reached no queue: its ack follows, and is a refusal."""
        self._state.returned.add(str(properties.correlation_id))

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        tag = int(method.delivery_tag)
        nacked = type(method).__name__ == "Nack"
        pending = self._state.pending
        tags = [t for t in pending if t <= tag] if method.multiple else [tag]
        for done in sorted(tags):
            entry = pending.pop(done, None)
            if entry is None:
                continue
            key, correlation_id = entry
            if nacked:
                self._state.untaken.append(Untaken(key, "the broker refused the message (nack)"))
            elif correlation_id in self._state.returned:
                self._state.returned.discard(correlation_id)
                self._state.untaken.append(Untaken(key, "reached no queue"))

    def _wait(self, ready: Any, what: str) -> None:
        """Move bytes until `ready()`; PublishError after about CONFIRM_TIMEOUT_S (pika's
        loop looks at the clock at least every few seconds) or if the channel closed."""
        deadline = time.monotonic() + CONFIRM_TIMEOUT_S
        self._connection._flush_output(
            ready, lambda: time.monotonic() > deadline, lambda: self._channel.is_closed
        )
        self._raise_if_closed()
        if not ready():
            waited = f"{CONFIRM_TIMEOUT_S:g}s"
            raise PublishError(f"no answer from the broker for {what} in {waited}")

    def _raise_if_closed(self) -> None:
        if self._channel.is_closed:
            reason = getattr(self._channel, "_closing_reason", None)
            raise PublishError(f"the broker closed the publishing channel: {reason}")
