"""Bootstrap then steady state: a fresh agent converges the latest published revision at its
first check-in, recorded as its assignment; a target that applied nothing is `pending`.

The tests run in order on one control plane: the first one runs before anything is
published.
"""

from __future__ import annotations

from contracts.inventory import Inventory
from producers.pull.assignments import Assignment, Assignments, bootstrap_id
from producers.records.inventory import InventoryStore
from tests.workers.pull.conftest import PullPlane

MOTD = "etc/motd"
FRESH = ["p00", "p01", "p02"]


def test_a_target_that_applied_nothing_is_pending_never_aligned(plane: PullPlane) -> None:
    assert plane.store.latest_number() == 0
    InventoryStore(plane.db).load(Inventory(targets=tuple(plane.targets)))
    plane.enroll("p03")

    done = plane.agent("p03")

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("unassigned:")
    assert not (plane.root("p03") / MOTD).exists()
    plane.wait_standing("p03", state="pending")
    report = plane.compliance("target=p03")
    assert report["targets"][0]["state"] == "pending"
    assert report["counts"]["pending"] == 1 and report["counts"]["aligned"] == 0


def test_three_fresh_agents_converge_the_published_revision_then_only_rollouts_move_them(
    plane: PullPlane,
) -> None:
    revision = plane.publish("bootstrap\n")
    for target_id in FRESH:
        plane.enroll(target_id)
    assignments = Assignments(plane.db)
    assert all(assignments.get(t) is None for t in FRESH)

    for target_id in FRESH:
        done = plane.agent(target_id)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith(f"reported: revision {revision}: changed"), done.stdout
        assert (plane.root(target_id) / MOTD).read_text() == "bootstrap\n"

    for target_id in [*FRESH, "p03"]:
        if target_id == "p03":  # pending before the publish: bootstrapped at its next run
            assert plane.agent("p03").returncode == 0
        plane.wait_standing(target_id, state="aligned", revision=revision)
        assert assignments.get(target_id) == Assignment(revision, bootstrap_id(revision))
    report = plane.compliance(*[f"target={t}" for t in [*FRESH, "p03"]])
    assert {row["state"] for row in report["targets"]} == {"aligned"}

    newer = plane.publish("newer\n")  # a publish alone moves no assigned target
    done = plane.agent("p00")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (plane.root("p00") / MOTD).read_text() == "bootstrap\n"
    assert assignments.get("p00") == Assignment(revision, bootstrap_id(revision))
    plane.assign(["p00"], newer, change_id="c-rollout")  # as a rollout's wave does
    assert plane.agent("p00").returncode == 0
    assert (plane.root("p00") / MOTD).read_text() == "newer\n"
    plane.wait_standing("p00", state="aligned", revision=newer)
