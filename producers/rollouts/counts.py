"""Wave counts: each active rollout's outcomes per wave, a cache of the system of record.

A wave's counts are the current outcomes the aggregator stored in PostgreSQL, so emptying
Redis loses none. Reading them is one query per rollout, made again when an outcome copy
for that rollout arrives (`note`), and for COUNTS_GRACE_S after the last one (a copy
usually comes before the aggregator's commit: a wave's last outcome would otherwise be
counted only COUNTS_MAX_AGE_S later, and every wave would wait that long to advance);
never more often than COUNTS_MIN_AGE_S, nor so often that reading takes more than
COUNTS_TIME_SHARE of the time, and at least every COUNTS_MAX_AGE_S.
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
#: After an outcome copy, its rollout's counts are read again until this long after it.
COUNTS_GRACE_S = 0.3


class WaveCountCache:
    """Each rollout's counts per wave, read from the book no more often than they change."""

    def __init__(self, book: RolloutBook) -> None:
        self.book = book
        #: Per rollout: (monotonic time read, seconds the read took, counts per wave).
        self._counts: dict[str, tuple[float, float, list[dict[str, int]]]] = {}
        #: Per rollout: when its last outcome copy arrived (monotonic).
        self._noted: dict[str, float] = {}

    def of(self, rollout: Rollout) -> list[dict[str, int]]:
        """The rollout's counts per wave, from the cache while it is fresh enough."""
        change_id = rollout.change_id
        now = time.monotonic()
        cached = self._counts.get(change_id)
        if cached is not None:
            read_at, took, counts = cached
            age = now - read_at
            least = max(COUNTS_MIN_AGE_S, took / COUNTS_TIME_SHARE)
            fresh = read_at > self._noted.get(change_id, -1.0) + COUNTS_GRACE_S
            if age < least or (age < COUNTS_MAX_AGE_S and fresh):
                return counts
        counts = self.book.wave_counts(rollout)
        self._counts[change_id] = (now, time.monotonic() - now, counts)
        return counts

    def note(self, change_id: str) -> None:
        """An outcome copy of the rollout arrived: read its counts anew soon, and again
        until COUNTS_GRACE_S after it."""
        self._noted[change_id] = time.monotonic()

    def settling(self) -> bool:
        """True while some rollout's counts may still change from copies just arrived (within
        COUNTS_GRACE_S of the last): the controller then drives it sooner than every tick."""
        now = time.monotonic()
        return any(now - noted < COUNTS_GRACE_S for noted in self._noted.values())

    def forget(self, change_id: str) -> None:
        self._counts.pop(change_id, None)
        self._noted.pop(change_id, None)
