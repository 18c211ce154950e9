"""When each message's record reached Redis, seen through keyspace notifications.

Latency is "publish to outcome recorded", so the clock must stop at the Redis write, for
our ledger and for the no-op task alike. Redis announces hash writes per key once
`notify-keyspace-events` includes `Kh`; a thread of the harness stamps each first arrival
with the same clock the publisher uses. The setting is restored afterwards.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import redis

from bench.errors import BenchError, ServiceLost


class Arrivals:
    """A thread recording `key → perf_counter()` of the first hash write to each key."""

    def __init__(self, client: redis.Redis, db: int) -> None:
        self.seen: dict[str, float] = {}
        self._pubsub = client.pubsub()
        self._prefix = f"__keyspace@{db}__:"
        self._pubsub.psubscribe(self._prefix + "*")
        self._confirm_subscription()
        self._stop = threading.Event()
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._listen, name="arrivals", daemon=True)

    def _confirm_subscription(self) -> None:
        """Block until Redis has the subscription: a write before it would go unseen."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            message = self._pubsub.get_message(timeout=0.5)
            if message is not None and message["type"] == "psubscribe":
                return
        raise BenchError("Redis did not confirm the keyspace subscription")

    def _listen(self) -> None:
        try:
            self._stamp()
        except redis.RedisError as exc:  # e.g. Redis restarted: wait() reports it at once
            self._error = exc

    def _stamp(self) -> None:
        cut = len(self._prefix)
        while not self._stop.is_set():
            message = self._pubsub.get_message(timeout=0.05)
            if message is None or message["type"] != "pmessage":
                continue
            now = time.perf_counter()
            key = message["channel"][cut:]
            if key not in self.seen:
                self.seen[key] = now

    def wait(self, keys: list[str], timeout_s: float) -> None:
        """Return when every key has arrived; raise BenchError after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            missing = sum(1 for key in keys if key not in self.seen)
            if not missing:
                return
            if self._error is not None:
                raise ServiceLost(f"lost the Redis notifications: {self._error}")
            if time.monotonic() > deadline:
                absent = [key for key in keys if key not in self.seen]
                raise BenchError(
                    f"{missing} of {len(keys)} records missing after {timeout_s:g}s "
                    f"(first: {', '.join(absent[:3])})"
                )
            time.sleep(0.05)

    def __enter__(self) -> Arrivals:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._pubsub.close()


@contextlib.contextmanager
def keyspace_events(client: redis.Redis, flags: str = "Kh") -> Iterator[None]:
    """Add hash keyspace notifications for the block (keeping any others on); restore after."""
    try:
        before = client.config_get("notify-keyspace-events").get("notify-keyspace-events", "")
        client.config_set("notify-keyspace-events", "".join(sorted(set(before) | set(flags))))
    except redis.RedisError as exc:
        raise BenchError(f"cannot enable Redis keyspace notifications: {exc}") from exc
    try:
        yield
    finally:
        with contextlib.suppress(redis.RedisError):
            client.config_set("notify-keyspace-events", before)
