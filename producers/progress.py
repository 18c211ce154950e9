"""Waiting for a change's outcomes, with a live progress bar on the terminal."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from producers.ledger import ChangeStatus, Ledger

POLL_INTERVAL_S = 0.1


def wait_for(
    ledger: Ledger, change_id: str, total: int, *, timeout_s: float, show: bool = True
) -> tuple[ChangeStatus, bool]:
    """Wait until every target has an outcome or `timeout_s` passes.

    Returns:
        The change's status and whether it finished in time.
    """
    console = Console(stderr=True)
    deadline = time.monotonic() + timeout_s
    visible = show and sys.stderr.isatty()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not visible,
        transient=False,
    ) as progress:
        bar = progress.add_task(f"change {change_id[:8]}", total=total, counts="")
        while True:
            counts = ledger.counts(change_id)
            done = total - counts["pending"]
            shown = " ".join(f"{k}={v}" for k, v in counts.items() if v and k != "pending")
            progress.update(bar, completed=done, counts=shown)
            if done >= total or time.monotonic() >= deadline:
                break
            time.sleep(POLL_INTERVAL_S)
    status = ledger.status(change_id)
    return status, status.done
