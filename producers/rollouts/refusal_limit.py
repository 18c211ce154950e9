"""How many refused events one sender may write into the audit trail.

The trail is append-only and hash-chained: every entry is kept for good, and appending one
takes the chain's lock. A broken or probing sender on `provision.events` would otherwise
grow it (and hold that lock) at its own pace. So each sender (the broker-checked user id,
else `unknown`) has `AUDIT_REFUSALS_PER_MIN` entries per minute; past that its refusals are
only counted, and the count becomes one `event.refused.suppressed` entry when its minute
ends. Nothing that matters is lost: every refused body is still dead-lettered and kept by
its digest in `rejected_events`, and the trail keeps the first refusals and how many more
came. The counts live in memory: they may be forgotten on a restart, the refusals may not
(and are not).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from contracts import limits

#: The window each sender's allowance is counted over.
WINDOW_S = 60.0
#: Senders tracked at once. The broker checks `user_id`, so a sender cannot invent names;
#: the bound only keeps a misconfigured fleet of users from growing this without end.
SENDERS = 1024


@dataclass
class _Window:
    started: float
    recorded: int = 0
    suppressed: int = 0


@dataclass(frozen=True)
class Suppressed:
    """Refusals of `sender` that were counted and not written, over `seconds`."""

    sender: str
    count: int
    seconds: float


class RefusalLimit:
    """Which refused events the controller writes into the trail, and the counts of the rest."""

    def __init__(
        self,
        per_window: int | None = None,
        *,
        window_s: float = WINDOW_S,
        senders: int = SENDERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_window = limits.AUDIT_REFUSALS_PER_MIN if per_window is None else per_window
        self.window_s = window_s
        self.senders = senders
        self.clock = clock
        self._windows: OrderedDict[str, _Window] = OrderedDict()
        self._ended: list[Suppressed] = []

    def admit(self, sender: str | None) -> bool:
        """True: write this refusal into the trail. False: it is counted, and reported by
        `due` once the sender's window ends."""
        key = sender or "unknown"
        now = self.clock()
        window = self._windows.get(key)
        if window is not None and now - window.started >= self.window_s:
            self._end(key, window, now)
            window = None
        if window is None:
            window = self._windows[key] = _Window(now)
            while len(self._windows) > self.senders:
                oldest, dropped = next(iter(self._windows.items()))
                self._end(oldest, dropped, now)
        self._windows.move_to_end(key)
        if window.recorded < self.per_window:
            window.recorded += 1
            return True
        window.suppressed += 1
        return False

    def due(self, *, everything: bool = False) -> list[Suppressed]:
        """The counts to write now: of every window that ended with refusals not written
        (with `everything`, of the open windows too, as on shutdown)."""
        now = self.clock()
        for key, window in list(self._windows.items()):
            if everything or now - window.started >= self.window_s:
                self._end(key, window, now)
        ended, self._ended = self._ended, []
        return ended

    def _end(self, key: str, window: _Window, now: float) -> None:
        del self._windows[key]
        if window.suppressed:
            self._ended.append(Suppressed(key, window.suppressed, now - window.started))
