"""Restarting the local PostgreSQL server, the way `.ci/services` starts it.

`.ci/services` starts Debian's cluster with `pg_ctlcluster <version> main start` (else
`service postgresql start`), so a restart is `pg_ctlcluster <version> main restart` (fast
mode: every connection is dropped, committed data stays), else `service postgresql
restart`. Each wait is bounded. Child processes get none of our file descriptors
(subprocess closes them), so a restarted server never holds a caller's `flock` lock.
"""

from __future__ import annotations

import subprocess
import time

import psycopg

from bench.database import admin_url

#: How PostgreSQL is restarted; the README says so too.
POSTGRES_RESTART = "pg_ctlcluster <version> main restart (else service postgresql restart)"
WAIT_S = 60.0


def answers() -> bool:
    """True when the server takes a query (accepting TCP is not enough)."""
    try:
        with psycopg.connect(admin_url(), connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def cluster_version() -> str | None:
    """The first local cluster's version, as `pg_lsclusters` lists it."""
    try:
        done = subprocess.run(
            ["pg_lsclusters", "-h"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    words = done.stdout.split()
    return words[0] if words else None


def _wait(predicate: object, what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(0.2)


def restart() -> float:
    """Restart the server and wait until it answers again; the seconds it took."""
    started = time.monotonic()
    version = cluster_version()
    argv = (
        ["pg_ctlcluster", "-m", "fast", version, "main", "restart"]
        if version
        else ["service", "postgresql", "restart"]
    )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {(done.stderr or done.stdout).strip()}")
    _wait(answers, "PostgreSQL after its restart")
    return time.monotonic() - started


def ensure() -> None:
    """Leave PostgreSQL running, whatever happened."""
    if answers():
        return
    version = cluster_version()
    argv = (
        ["pg_ctlcluster", version, "main", "start"]
        if version
        else ["service", "postgresql", "start"]
    )
    subprocess.run(argv, capture_output=True, timeout=120, check=False)
    _wait(answers, "PostgreSQL to start")
