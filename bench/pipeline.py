"""Our pipeline, driven the way a user drives it: regional worker, aggregator, real publisher.

Changes go out through `producers.rollouts.direct.publish_change` (or
`producers.messaging.publisher.Publisher` for single-target changes), never through a faster
path of the harness's own.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from bench.controller_key import controller_key
from bench.errors import BenchError, ServiceLost
from bench.processes import wait_for_consumers
from bench.sandbox import Sandbox
from broker_config import RESULTS_QUEUE, Endpoints, region_queue
from contracts import ChangeFile, FileSpec, OutcomeStatus, Target
from producers.processes import commands
from producers.processes.supervisor import Child, Supervisor
from producers.records.ledger import Ledger
from producers.rollouts.direct import publish_change
from producers.store.database import Database

ENVIRONMENT = "bench"
ISSUER = "bench@localhost"
#: Statuses that mean a target was not converged: a run with any of them is not a measure.
BAD = (OutcomeStatus.FAILED, OutcomeStatus.REJECTED, OutcomeStatus.NOT_READY)
POLL_S = 0.02


def worker_argv(region: str, concurrency: int, allow: str | list[str]) -> list[str]:
    """Our regional worker, as `provision worker` runs it, quiet so logging costs nothing;
    `allow` is its --allow pattern(s) (the roots of the run's fleet)."""
    return commands.worker_argv(
        region, allow=allow, concurrency=concurrency, pool="prefork", loglevel="WARNING"
    )


def allow_under(workdir: Path) -> str:
    """The --allow pattern for every root beneath `workdir` (real path: links resolved)."""
    return f"local://{workdir.resolve()}/**"


def start(
    children: Supervisor, box: Sandbox, region: str, concurrency: int, workdir: Path
) -> Child:
    """Start a regional worker (allowed the roots under `workdir`) and the aggregator;
    return the worker once both consume."""
    argv = worker_argv(region, concurrency, allow_under(workdir))
    worker = children.start(f"worker-{region}", argv, box.env)
    children.start("aggregator", commands.aggregator_argv(), box.env)
    wait_for_consumers(children, box.broker_url, [region_queue(region), RESULTS_QUEUE])
    return worker


def fleet(root: Path, region: str, count: int, prefix: str = "t") -> list[Target]:
    """`count` local targets of one region, each with a root directory of its own."""
    targets = []
    for index in range(count):
        target_id = f"{prefix}{index:05d}"
        home = root / target_id
        home.mkdir(parents=True, exist_ok=True)
        targets.append(
            Target(
                id=target_id,
                region=region,
                environment=ENVIRONMENT,
                address=f"local://{home}",
            )
        )
    return targets


def file_change(targets: list[Target], version: str) -> ChangeFile:
    """One file resource per target, with content that differs per `version` (so it changes)."""
    content = f"# managed by provisioning; bench version {version}\n" + "key = value\n" * 8
    return ChangeFile(
        targets=tuple(targets),
        resources=(FileSpec(path="/etc/bench/app.conf", content=content, mode="0644"),),
    )


def run_change(
    change: ChangeFile, endpoints: Endpoints, db: Database, change_id: str, timeout_s: float
) -> float:
    """Publish `change` and wait for its last outcome in the ledger; return the seconds taken.

    The change is booked in `db`, the benchmark's own database: without it `publish_change`
    would open PROVISION_DATABASE_URL of this process, the user's."""
    total = len(change.targets or ())
    started = time.perf_counter()
    publish_change(
        change,
        endpoints,
        issued_by=ISSUER,
        change_id=change_id,
        ttl=timedelta(seconds=timeout_s * 2),
        db=db,
        key=controller_key(),
    )
    counts = wait_done(Ledger(db), change_id, total, timeout_s)
    elapsed = time.perf_counter() - started
    bad = {status.value: counts[status.value] for status in BAD if counts[status.value]}
    if bad:
        raise BenchError(f"change {change_id}: targets not converged: {bad}")
    return elapsed


def wait_done(ledger: Ledger, change_id: str, total: int, timeout_s: float) -> dict[str, int]:
    """Wait until every target has an outcome; return the ledger's counts.

    While waiting it polls one cheap count of the change's outcomes (an index range), not
    the ledger's per-target ordering, so the wait takes no CPU from the pipeline it times;
    the full counts are read once at the end. A change the ledger does not know (its
    database was replaced) is an error, not a finish.
    """
    deadline = time.monotonic() + timeout_s
    with ledger.db.connection() as conn:
        known = conn.execute("SELECT 1 FROM changes WHERE change_id = %s", (change_id,))
        if known.fetchone() is None:
            raise ServiceLost(f"the ledger does not know change {change_id}")
    while True:
        with ledger.db.connection() as conn:
            row = conn.execute(
                "SELECT count(DISTINCT target) FROM outcomes WHERE change_id = %s", (change_id,)
            ).fetchone()
        done = int(row[0]) if row else 0
        if done >= total:
            return ledger.counts(change_id)
        if time.monotonic() > deadline:
            raise BenchError(
                f"change {change_id}: {total - done} of {total} targets without an outcome "
                f"after {timeout_s:g}s"
            )
        time.sleep(POLL_S)
