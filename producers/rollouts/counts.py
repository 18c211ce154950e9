"""Wave counts: each active rollout's outcomes per wave, a cache of the system of record.

A wave's counts are the current outcomes the aggregator stored in PostgreSQL, so emptying
Redis loses none. Reading them is one query per rollout, made again when an outcome copy
for that rollout arrives (`note`): never more often than COUNTS_MIN_AGE_S, nor so often
that reading takes more than COUNTS_TIME_SHARE of the time, and at least every
COUNTS_MAX_AGE_S (the copy may come before the aggregator's commit).
"""

from __future__ import annotations

import time

from producers.rollouts.store import Rollout, RolloutBook

#: A rollout's cached counts are read again at least this often...
COUNTS_MAX_AGE_S = 0.5
#: ...and, however many outcome copies arrive, at most this often...
COUNTS_MIN_AGE_S = 0.05
#: ...nor so often that reading them takes more than this share of the controller's time
#: (the counts of a 10,000-target rollout take some 15 ms to read).
COUNTS_TIME_SHARE = 0.1


class WaveCountCache:
    """Each rollout's counts per wave, read from the book no more often than they change."""

    def __init__(self, book: RolloutBook) -> None:
        self.book = book
        #: Per rollout: (monotonic time read, seconds the read took, counts per wave).
        self._counts: dict[str, tuple[float, float, list[dict[str, int]]]] = {}
        #: Rollouts an outcome copy arrived for since their counts were read.
        self._dirty: set[str] = set()

    def of(self, rollout: Rollout) -> list[dict[str, int]]:
        """The rollout's counts per wave, from the cache while it is fresh enough."""
        change_id = rollout.change_id
        now = time.monotonic()
        cached = self._counts.get(change_id)
        if cached is not None:
            read_at, took, counts = cached
            age = now - read_at
            least = max(COUNTS_MIN_AGE_S, took / COUNTS_TIME_SHARE)
            if age < least or (age < COUNTS_MAX_AGE_S and change_id not in self._dirty):
                return counts
        self._dirty.discard(change_id)
        counts = self.book.wave_counts(rollout)
        self._counts[change_id] = (now, time.monotonic() - now, counts)
        return counts

    def note(self, change_id: str) -> None:
        """An outcome copy of the rollout arrived: read its counts anew soon."""
        self._dirty.add(change_id)

    def forget(self, change_id: str) -> None:
        self._counts.pop(change_id, None)
        self._dirty.discard(change_id)
