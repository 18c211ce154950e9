"""Waiting on a rollout's outcomes, with live progress bars on the terminal.

`provision apply --wait` shows one bar for the whole change; `provision rollout watch`
shows one per wave, with done, failed, in flight, remaining, rate and ETA. Both read the
rollout and its targets' current outcomes from the system of record (PostgreSQL), so a
Redis emptied or restarted meanwhile changes nothing they show or decide.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from contracts import OutcomeStatus
from contracts.events import RolloutState
from producers.records.ledger import ChangeStatus, Ledger
from producers.rollouts.store import RolloutBook, failures

POLL_INTERVAL_S = 0.1
#: States after which no more requests are published.
STOPPED = {RolloutState.COMPLETED, RolloutState.HALTED, RolloutState.ABORTED, RolloutState.REJECTED}


@dataclass
class Settled:
    """How a wait ended."""

    state: RolloutState | None
    reason: str
    status: ChangeStatus | None
    finished: bool


def settled(book: RolloutBook, ledger: Ledger, change_id: str) -> Settled | None:
    """The end of a rollout once nothing more will happen, else None.

    A rollout is settled when it publishes no more (completed, halted, aborted, rejected)
    and every request it did publish has an outcome.
    """
    head = book.head(change_id)
    if head is None:
        return None
    if head.state == RolloutState.REJECTED:
        return Settled(head.state, head.reason, None, True)
    if head.state not in STOPPED:
        return None
    counts = totals(book, change_id)
    recorded = sum(counts.values()) - counts[OutcomeStatus.PENDING.value]
    if recorded < book.published_count(change_id):
        return None
    return Settled(head.state, head.reason, ledger.status(change_id), True)


def totals(book: RolloutBook, change_id: str) -> dict[str, int]:
    """The rollout's count per status word over all its waves (pending: no outcome yet)."""
    counts = {status.value: 0 for status in OutcomeStatus}
    for wave in book.wave_counts_of(change_id):
        for status, count in wave.items():
            counts[status] += count
    return counts


def wait_for(
    book: RolloutBook, ledger: Ledger, change_id: str, *, timeout_s: float, show: bool = True
) -> Settled:
    """Wait until the rollout settles or `timeout_s` passes, with one progress bar."""
    deadline = time.monotonic() + timeout_s
    console = Console(stderr=True)
    visible = show and sys.stderr.isatty()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not visible,
    ) as progress:
        bar = progress.add_task(f"change {change_id[:8]}", total=None, counts="waiting")
        while True:
            done = settled(book, ledger, change_id)
            head = book.head(change_id)
            if head is not None:
                counts = totals(book, change_id)
                total = sum(counts.values())
                shown = " ".join(f"{k}={v}" for k, v in counts.items() if v and k != "pending")
                progress.update(
                    bar,
                    total=total,
                    completed=total - counts["pending"],
                    counts=f"{head.state.value} {shown}",
                )
            if done is not None:
                return done
            if time.monotonic() >= deadline:
                status = ledger.status(change_id) if head is not None else None
                state = head.state if head is not None else None
                return Settled(state, "timed out waiting", status, False)
            time.sleep(POLL_INTERVAL_S)


def watch(
    book: RolloutBook, change_id: str, *, console: Console, timeout_s: float | None = None
) -> RolloutState | None:
    """Live bars per wave until the rollout stops publishing and its outcomes are in."""
    started = time.monotonic()
    rollout = book.load(change_id)
    if rollout is None:
        return None
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        bars: dict[int, TaskID] = {
            w.index: progress.add_task(f"wave {w.index}", total=len(w.targets), detail="")
            for w in rollout.plan.waves
        }
        begun: dict[int, float] = {}  # when each wave was first seen under way, and done
        ended: dict[int, float] = {}
        while True:
            head = book.head(change_id)
            assert head is not None  # a rollout is never deleted
            state = head.state
            published = book.published(change_id)
            in_flight = 0
            for wave, counts in zip(rollout.plan.waves, book.wave_counts(rollout), strict=True):
                size = len(wave.targets)
                done = size - counts["pending"]
                sent = sum(1 for t in wave.targets if t in published)
                in_flight += sent - done
                now = time.monotonic()
                if sent and wave.index not in begun:
                    begun[wave.index] = now
                if done == size and wave.index not in ended:
                    ended[wave.index] = now
                start = begun.get(wave.index, now)
                elapsed = max(ended.get(wave.index, now) - start, 1e-3)
                detail = (
                    f"done {done}  failed {failures(counts)}  in flight {sent - done}  "
                    f"remaining {size - done}  {done / elapsed:.1f}/s"
                )
                progress.update(bars[wave.index], completed=done, detail=detail)
            if state in STOPPED and in_flight <= 0:
                return state
            if timeout_s is not None and time.monotonic() - started > timeout_s:
                return state
            time.sleep(0.25)
