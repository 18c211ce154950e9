"""The lock held on the target itself: one converge per target at a time, push or pull.

The Redis lock (`workers.delivery.guard`) keeps two workers apart, but a pull agent takes no Redis
lock, and Redis may restart (or be flushed) while a converge runs and forget it. So every
converge also takes an exclusive `flock` on `/var/lib/provision/lock` under the target's
root, beside the journal it guards. The kernel releases it when its holder exits, however
it exits, so a crashed converge never leaves the target locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from contracts import ProvisioningError, Target
from workers.engine.hosts import Host, TargetError, connect
from workers.engine.target_files import JOURNAL_DIR, LOCK_FILE

if TYPE_CHECKING:
    import logging

#: How often a waiting converge tries the lock again.
POLL_S = 0.1


class TargetLocked(ProvisioningError):
    """Another converge (a worker or an agent) holds the target's own lock right now."""

    transient = True


@contextlib.contextmanager
def held(
    spec: Target,
    *,
    wait_s: float = 0.0,
    create: bool = True,
    stopping: threading.Event | None = None,
    host: Host | None = None,
) -> Iterator[None]:
    """Hold the target's flock while the block runs, waiting at most `wait_s` for it.

    Args:
        spec: The target; its address says where its root is.
        wait_s: How long to wait for a holder to finish before giving up (0: not at all).
        create: Create the lock file (and the journal directory) if missing. A dry run
            passes False: it changes nothing on the target, so it locks only an existing file.
        stopping: Set to stop waiting early.
        host: The target already connected (left open); otherwise it is connected here.

    Raises:
        TargetLocked: still held by another converge when the wait ran out.

    A target whose root cannot be reached is not locked: the engine reports why it cannot
    converge it, and there is nothing to protect.
    """
    descriptor = _open(spec, create, host)
    if descriptor is None:
        yield
        return
    try:
        if not try_flock(descriptor):
            _wait(spec, descriptor, wait_s, stopping)
        yield
    finally:
        os.close(descriptor)  # closing the descriptor releases the lock


def _wait(spec: Target, descriptor: int, wait_s: float, stopping: threading.Event | None) -> None:
    """Try again every POLL_S until the lock is ours; TargetLocked when `wait_s` runs out."""
    give_up = time.monotonic() + wait_s
    if wait_s > 0:
        _log().info(
            "target %s: its lock is held by another run; waiting up to %.0fs", spec.id, wait_s
        )
    while True:
        left = give_up - time.monotonic()
        if left <= 0 or (stopping is not None and stopping.is_set()):
            raise TargetLocked(
                f"lock busy: target {spec.id} is being converged by another run "
                f"(its lock {LOCK_FILE} is held)"
            )
        time.sleep(min(POLL_S, left))
        if try_flock(descriptor):
            return


def _open(spec: Target, create: bool, host: Host | None = None) -> int | None:
    """The lock file, opened without following a link; None when there is nothing to lock."""
    try:
        target = connect(spec) if host is None else host
    except TargetError:
        return None
    try:
        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
        if create:
            target.mkdir(JOURNAL_DIR, 0o700)
            flags |= os.O_CREAT
        with target.spot(LOCK_FILE, follow=False) as spot:  # resolved inside the root
            return os.open(spot.name, flags, 0o600, dir_fd=spot.parent)
    except FileNotFoundError:
        if create:
            _log().warning("target %s: no lock file could be made; converging unlocked", spec.id)
        return None
    except (OSError, ProvisioningError) as exc:  # read-only root, a link out of the root
        _log().warning("target %s: cannot open its lock (%s); converging unlocked", spec.id, exc)
        return None
    finally:
        if host is None:
            target.close()


def _log() -> logging.Logger:
    """The module's logger, imported only when there is something to say: a converge that
    takes its lock at once (every `provision converge` on a quiet root) says nothing."""
    import logging

    return logging.getLogger("provision.target_lock")


def try_flock(descriptor: int) -> bool:
    """Take an exclusive flock on `descriptor` without waiting; False if another holds it."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
