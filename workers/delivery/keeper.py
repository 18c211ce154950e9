"""The lock keeper: one thread per process that keeps every target lock it holds alive.

A lock has a TTL so that a killed worker's lock lapses by itself; a live holder must
therefore refresh it while the engine runs. A thread per lock would cost a start and a
join per change; one keeper refreshes all held locks every third of their TTL, and a
killed process stops refreshing them all at once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis

log = logging.getLogger("provision.guard")


class Keeper:
    """Refreshes the held locks with `refresh(keys=[key], args=[token, ttl_ms])`, a script
    that extends a lock only while its token is still the holder's.

    Args:
        refresh: The registered refresh script.
        ttl_s: The locks' TTL; the keeper wakes every third of it.
    """

    def __init__(self, refresh: Any, ttl_s: float) -> None:
        self._refresh = refresh
        self._ttl_s = ttl_s
        self._held: dict[str, str] = {}
        self._mutex = threading.Lock()
        self._thread: threading.Thread | None = None

    def hold(self, key: str, token: str) -> None:
        """Keep `key` alive under `token` until `drop`; starts the thread on first use."""
        with self._mutex:
            self._held[key] = token
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lock-keeper", daemon=True)
                self._thread.start()

    def drop(self, key: str) -> None:
        """Stop refreshing `key` (released, or about to be)."""
        with self._mutex:
            self._held.pop(key, None)

    def _run(self) -> None:
        ttl_ms = int(self._ttl_s * 1000)
        while True:
            time.sleep(self._ttl_s / 3)
            with self._mutex:
                held = list(self._held.items())
            for key, token in held:
                try:
                    self._refresh(keys=[key], args=[token, ttl_ms])
                except (redis.RedisError, OSError) as exc:  # the next tick tries again
                    log.warning("could not refresh the lock %s: %s", key, exc)
