"""Server-sent events: each live section, sent again whenever its fragment changes.

One `Snapshots` per app renders each section at most once per `TICK_S` however many
browsers watch (the database is read by one thread, not once per viewer), and at most
`MAX_STREAMS` streams are open at once: a page left open everywhere cannot flood the
database or the process. A stream ends when its browser goes away.
"""

from __future__ import annotations

import asyncio
import html as markup
import json
import time
from collections.abc import AsyncIterator, Callable

from starlette.concurrency import run_in_threadpool

#: How often a section is read again.
TICK_S = 1.0
#: A comment line this often keeps proxies from closing an idle stream.
KEEPALIVE_S = 15.0
#: Streams open at once; beyond, the browser is told to come back later (503).
MAX_STREAMS = 32
#: How long a browser waits before reconnecting a dropped stream.
RETRY_MS = 2000


class Snapshots:
    """The latest fragment of each section, rendered at most once per tick."""

    def __init__(self, render: Callable[[str], str], tick_s: float = TICK_S) -> None:
        self._render = render
        self.tick_s = tick_s
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = asyncio.Lock()
        self.open_streams = 0

    async def get(self, name: str) -> str:
        async with self._lock:
            now = time.monotonic()
            cached = self._cache.get(name)
            if cached is not None and now - cached[0] < self.tick_s:
                return cached[1]
            html = await run_in_threadpool(self._render, name)
            self._cache[name] = (time.monotonic(), html)
            return html


def event(name: str, html: str) -> str:
    """One SSE event `section` carrying a section's fragment as JSON (one data line)."""
    return f"event: section\ndata: {json.dumps({'section': name, 'html': html})}\n\n"


async def stream(snapshots: Snapshots, names: list[str]) -> AsyncIterator[str]:
    """Every section once at once, then each again when it changes, until cancelled."""
    snapshots.open_streams += 1
    try:
        yield f"retry: {RETRY_MS}\n\n"
        sent: dict[str, str] = {}
        quiet_since = time.monotonic()
        while True:
            for name in names:
                try:
                    html = await snapshots.get(name)
                except Exception as exc:  # the database away: say so, keep the stream
                    why = markup.escape(type(exc).__name__)
                    html = f'<p class="error">{why}: cannot read now</p>'
                if sent.get(name) != html:
                    sent[name] = html
                    quiet_since = time.monotonic()
                    yield event(name, html)
            if time.monotonic() - quiet_since > KEEPALIVE_S:
                quiet_since = time.monotonic()
                yield ": keepalive\n\n"
            await asyncio.sleep(snapshots.tick_s)
    finally:
        snapshots.open_streams -= 1
