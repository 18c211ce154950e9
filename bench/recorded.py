"""When each outcome was committed to PostgreSQL, seen through LISTEN/NOTIFY.

Latency is "publish to outcome recorded", and the record is now a row of `outcomes` in the
system of record. The bench adds a trigger to ITS OWN database (never a shipped migration,
never the user's database): every inserted outcome notifies its change id, and PostgreSQL
delivers a notification only when the inserting transaction commits, so the stamp is the
commit as a listener sees it, on the publisher's clock. The trigger's cost (one
pg_notify per row) is the bench's, charged to our pipeline.
"""

from __future__ import annotations

import threading
import time

import psycopg

from bench.errors import BenchError, ServiceLost

CHANNEL = "bench_outcomes"
TRIGGER = f"""
CREATE OR REPLACE FUNCTION bench_outcome_recorded() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', NEW.change_id);
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS bench_outcome_recorded ON outcomes;
CREATE TRIGGER bench_outcome_recorded AFTER INSERT ON outcomes
    FOR EACH ROW EXECUTE FUNCTION bench_outcome_recorded();
"""


def announce_outcomes(url: str) -> None:
    """Install the notifying trigger in the bench's database at `url`."""
    if "/provisioning_bench_" not in url:
        raise BenchError("the arrival trigger goes only into a bench database of its own")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(TRIGGER.encode())


class Recorded:
    """A thread recording `change id → perf_counter()` of the first committed outcome."""

    def __init__(self, url: str) -> None:
        self.seen: dict[str, float] = {}
        self._conn = psycopg.connect(url, autocommit=True)
        self._conn.execute(f"LISTEN {CHANNEL}")  # in effect before this returns
        self._stop = threading.Event()
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._listen, name="recorded", daemon=True)

    def _listen(self) -> None:
        try:
            while not self._stop.is_set():
                for note in self._conn.notifies(timeout=0.05):
                    now = time.perf_counter()
                    self.seen.setdefault(note.payload, now)
        except psycopg.Error as exc:  # e.g. PostgreSQL restarted: wait() reports it at once
            self._error = exc

    def wait(self, change_ids: list[str], timeout_s: float) -> None:
        """Return when every change has an outcome; raise BenchError after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            missing = [change for change in change_ids if change not in self.seen]
            if not missing:
                return
            if self._error is not None:
                raise ServiceLost(f"lost the PostgreSQL notifications: {self._error}")
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{len(missing)} of {len(change_ids)} outcomes not recorded after "
                    f"{timeout_s:g}s (first: {', '.join(missing[:3])})"
                )
            time.sleep(0.05)

    def __enter__(self) -> Recorded:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._conn.close()
