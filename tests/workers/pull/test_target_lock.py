"""One converge per target at a time, held on the target: an agent waits for the flock on
`/var/lib/provision/lock` under its root, and converges once the holder lets go."""

from __future__ import annotations

from pathlib import Path

from tests.isolation import wait_until
from tests.services import flock_held
from tests.workers.pull.conftest import PullPlane
from workers.engine.target_lock import LOCK_FILE


def test_an_agent_does_not_apply_while_the_target_is_locked_then_converges(
    plane: PullPlane,
) -> None:
    _, creds = plane.enrolled("p04", "locked\n", change_id="c-lock")
    motd = plane.root("p04") / "etc/motd"
    lock = plane.root("p04") / LOCK_FILE.lstrip("/")

    with flock_held(lock):
        argv = ["-m", "workers", "agent", "--target", "p04", "--credentials", str(creds)]
        agent = plane.iso.spawn("agent-p04", [*argv, "--once"])
        wait_until(
            lambda: "waiting" in agent.text() or agent.proc.poll() is not None,
            60,
            "the agent to wait for the target's lock",
        )
        assert agent.proc.poll() is None, agent.text()
        assert not motd.exists(), "applied while another run held the target's lock"

    assert agent.proc.wait(timeout=60) == 0, agent.text()
    assert "reported: revision" in agent.text()
    assert motd.read_text() == "locked\n"
    assert Path(lock).exists()
