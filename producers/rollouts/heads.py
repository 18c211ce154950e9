"""The active rollouts' heads, read from the system of record only when they may have moved.

A head (state, wave, pause) moves when the controller writes it, when an operator steers the
rollout, or when an event is admitted: never by itself. The clock's part (a pause between
waves, a deadline) is judged by `steps.next_step` against the head it has. So instead of a
query on every drive (a 10,000-target rollout drives every 20 ms, and reading the heads was
two thirds of a drive's cost), the driver reads them again when PostgreSQL announces that a
rollout's row changed (LISTEN on the channel the `rollout_changes` trigger notifies, delivered
at commit), when it wrote one itself, and at the latest every MAX_AGE_S.

An operator's pause is seen at the next drive after its commit, as before: the announcement
is read before the heads are, so a change committed after a read is announced to the next.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from producers.rollouts.store import RolloutBook
from producers.store.pool import connect
from producers.store.rollout_status import Head

#: The channel the `rollout_changes` trigger (migration 0008) notifies, with the rollout id.
CHANNEL = "provision_rollouts"
#: The longest the heads are trusted without being read, announced or not: a bound on what a
#: lost announcement (a trigger dropped by hand, say) can cost.
MAX_AGE_S = 1.0


class Heads:
    """The heads a driver drives from: the book's, cached while nothing announced a change.

    Without a `listener` (a driver in a test, or a tool), every call reads them."""

    def __init__(self, book: RolloutBook, listener: psycopg.Connection | None = None) -> None:
        self.book = book
        self.listener = listener
        self._heads: list[Head] = []
        #: When the cached heads were read (monotonic); None: read them at the next call.
        self._read_at: float | None = None
        #: How many times they were read (the tests' and the profile's evidence).
        self.reads = 0

    def current(self) -> list[Head]:
        """The active rollouts' heads, oldest first; a lost database raises."""
        announced = self._announced()
        now = time.monotonic()
        if announced or self._read_at is None or now - self._read_at >= MAX_AGE_S:
            self._heads = self.book.heads()
            self._read_at = now
            self.reads += 1
        return self._heads

    def moved(self) -> None:
        """The driver changed a head itself: read them again at the next call."""
        self._read_at = None

    def _announced(self) -> bool:
        """Whether any rollout changed since the last call (consumes the announcements);
        always True without a listener."""
        if self.listener is None:
            return True
        announced = False
        for _ in self.listener.notifies(timeout=0):  # every one waiting, without blocking
            announced = True
        return announced


@contextmanager
def listening(url: str) -> Iterator[psycopg.Connection]:
    """A connection of its own, listening on CHANNEL until the block ends (a pooled one
    would lose its LISTEN to the next borrower). Raises DatabaseUnreachable."""
    with connect(url, autocommit=True) as conn:
        conn.execute(f"LISTEN {CHANNEL}")  # in effect once this returns
        yield conn
