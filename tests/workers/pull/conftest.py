"""An isolated control plane for pull tests: its own vhost, Redis database and PostgreSQL
database (the "pull" group of tests/isolation.py), a real controller (with a known check-in
rate) and aggregator, and a source of truth of local targets whose revisions the tests
publish and assign directly. The tests read what the control plane recorded (outcomes,
compliance, refusals) from the system of record, as an operator's query would."""

from __future__ import annotations

import contextlib
import fcntl
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broker_config import CHECKINS_QUEUE, EVENTS_QUEUE, RESULTS_QUEUE, ROLLOUTS_QUEUE
from contracts import FileSpec, OutcomeEvent, Target
from contracts.inventory import Inventory
from contracts.truth import RoleFile, SourceBundle
from producers.processes.commands import aggregator_argv, controller_argv
from producers.store import compliance, outcomes
from producers.truth.revisions import RevisionStore
from tests.isolation import Isolated, Isolation, controller_key, wait_until
from workers.engine.target_lock import try_flock

#: Held while a module uses the pull database, so two runs on one machine take turns.
LOCK_FILE = Path("/tmp/provision-test-pull-db12.lock")
#: The controller's check-in admission: rate per second and burst.
RATE_PER_S = 100.0
BURST = 10
#: Targets of the thundering-herd test, and a few for the others.
HERD = [f"h{i:03d}" for i in range(500)]
SINGLES = [f"p{i:02d}" for i in range(16)]


class PullPlane:
    """The control plane of the pull tests, and helpers to drive it."""

    def __init__(self, iso: Isolated, base: Path) -> None:
        self.iso = iso
        self.env = iso.env
        self.base = base
        self.redis = iso.redis
        self.db = iso.database
        self.store = RevisionStore(self.db, signer=controller_key())  # as the controller signs
        self.targets = [
            Target(
                id=target_id,
                region="eu",
                environment="test",
                labels={"group": "herd" if target_id in HERD else "single"},
                roles=("base",),
                delivery="pull",
                address=f"local://{base / 'roots' / target_id}",
            )
            for target_id in [*SINGLES, *HERD]
        ]
        for target in self.targets:
            self.root(target.id).mkdir(parents=True, exist_ok=True)

    def root(self, target_id: str) -> Path:
        return self.base / "roots" / target_id

    def credentials(self, target_id: str) -> Path:
        return self.base / "agents" / target_id

    def publish(self, motd: str) -> int:
        """A new revision in which every target's /etc/motd reads `motd`; its sequence."""
        bundle = SourceBundle(
            inventory=Inventory(targets=tuple(self.targets)),
            roles={"base": RoleFile(resources=(FileSpec(path="/etc/motd", content=motd),))},
        )
        return self.store.publish(bundle, author="tests", message=motd).revision.number

    def assign(self, target_ids: list[str], revision: int, change_id: str = "tests") -> None:
        """Assign as a rollout would, or backwards (which `Assignments` never does: as if
        a push had applied a newer revision behind the assignment's back)."""
        with self.db.connection() as conn, conn.cursor() as cursor:
            cursor.executemany(
                """
                INSERT INTO assigned_revisions (target, revision, change_id) VALUES (%s, %s, %s)
                ON CONFLICT (target) DO UPDATE
                    SET revision = EXCLUDED.revision, change_id = EXCLUDED.change_id
                """,
                [(target_id, revision, change_id) for target_id in target_ids],
            )

    def outcomes(self, change_id: str) -> dict[str, OutcomeEvent]:
        """The current outcome of each target of a change, as the aggregator recorded it."""
        with self.db.connection() as conn:
            found = outcomes.latest_in_change(conn, change_id)
        return {target: stored.event for target, stored in found.items()}

    def outcome(self, change_id: str, target_id: str) -> OutcomeEvent:
        """A target's current outcome of a change, once the aggregator has it (bounded)."""
        return wait_until(
            lambda: self.outcomes(change_id).get(target_id),
            20,
            f"{target_id}'s outcome of {change_id} in the system of record",
        )

    def provision(self, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
        return self.iso.provision(*args, timeout_s=timeout_s)

    def enrolled(self, target_id: str, motd: str, change_id: str) -> tuple[int, Path]:
        """A target ready for its agent: a revision with `motd` published, assigned to it by
        `change_id`, and the target enrolled; the revision and the credentials' folder."""
        revision = self.publish(motd)
        self.assign([target_id], revision, change_id=change_id)
        return revision, self.enroll(target_id)

    def enroll(self, target_id: str) -> Path:
        out = self.credentials(target_id)
        done = self.provision("enroll", target_id, "--out", str(out))
        assert done.returncode == 0, done.stderr
        return out

    def agent(self, target_id: str, *args: str, credentials: Path | None = None) -> Any:
        """`provision agent --once` for one target, as a subprocess; returns the result."""
        creds = credentials or self.credentials(target_id)
        return self.provision(
            "agent", "--target", target_id, "--credentials", str(creds), "--once", *args
        )

    def compliance(self, *selector: str) -> dict[str, Any]:
        args = [item for s in selector for item in ("--selector", s)]
        done = self.provision("compliance", "--json", *args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def standing(self, target_id: str) -> dict[str, Any] | None:
        """Where compliance has the target: its latest state (`pending` when it applied
        nothing yet), revision, change and differing paths; None if never seen."""
        with self.db.connection() as conn:
            row = compliance.standings(conn, [target_id]).get(target_id)
        if row is None:
            return None
        return {
            "state": row.state or "pending",
            "revision": row.revision,
            "change_id": row.change_id,
            "differed": list(row.differed),
        }

    def wait_standing(self, target_id: str, **expected: Any) -> dict[str, Any]:
        def matches() -> dict[str, Any] | None:
            found = self.standing(target_id)
            ok = found and all(found.get(k) == v for k, v in expected.items())
            return found if ok else None

        return wait_until(matches, 20, f"{target_id}'s compliance to show {expected}")


@contextlib.contextmanager
def exclusive(path: Path, timeout_s: float = 300) -> Iterator[None]:
    """An flock on `path`: a second test run waits (bounded) instead of flushing our data."""
    with open(path, "a") as handle:
        wait_until(
            lambda: try_flock(handle.fileno()), timeout_s, f"the lock {path} (another test run)"
        )
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def plane(
    isolation: Isolation, session_services: Isolated, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PullPlane]:
    """A fresh pull group per module: a controller with a known check-in rate, the aggregator."""
    with exclusive(LOCK_FILE):
        iso = isolation("pull", fresh=True)
        plane = PullPlane(iso, tmp_path_factory.mktemp("pull"))
        iso.spawn("pull-aggregator", aggregator_argv())
        iso.spawn("pull-controller", controller_argv(checkin_rate=RATE_PER_S, checkin_burst=BURST))
        iso.wait_consuming(RESULTS_QUEUE, EVENTS_QUEUE, ROLLOUTS_QUEUE, CHECKINS_QUEUE)
        yield plane
        iso.supervisor.stop()


def pull_targets(prefix: str, count: int) -> tuple[Target, ...]:
    """Pull targets `<prefix>-<n>` in eu, for the in-process tests of the desk's records."""
    return tuple(
        Target(
            id=f"{prefix}-{n}",
            region="eu",
            environment="test",
            roles=("base",),
            delivery="pull",
            address=f"local:///tmp/{prefix}-{n}",
        )
        for n in range(count)
    )


@pytest.fixture
def pull(isolation: Isolation) -> Iterator[Isolated]:
    """The pull group (its Redis may be flushed here), taken in turn with the plane tests."""
    with exclusive(LOCK_FILE):
        yield isolation("pull")


@pytest.fixture
def db(pull: Isolated, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The pull group's database with the test module's TARGETS loaded (see pull_targets);
    every write rolled back after."""
    from producers.records.inventory import InventoryStore
    from tests.producers.truth.conftest import rolled_back_on

    with rolled_back_on(pull.database) as rolled:
        InventoryStore(rolled).load(Inventory(targets=request.module.TARGETS))
        yield rolled
