"""Files given to the CLI that are unreadable, not UTF-8, too big or alias bombs: exit 2
with the file and the reason, never a traceback (issue 10). The services point nowhere: a
bad file is refused before either is contacted."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.contracts.test_limits import LAUGHS
from tests.isolation import provision

#: Slow (runs `provision` as a subprocess for every hostile file), so not in the quick loop,
#: `pytest -m "not slow"`.
pytestmark = pytest.mark.slow


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PROVISION_BROKER_URL": "amqp://guest:guest@127.0.0.1:1/nowhere",
        "PROVISION_REDIS_URL": "redis://127.0.0.1:1/15",
    }
    return provision(*args, env=env)


@pytest.mark.parametrize("content", [b"resources: [\xff]\n", LAUGHS.encode()])
def test_every_command_that_reads_a_file_exits_2_without_a_traceback(
    tmp_path: Path, content: bytes
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(content)
    source = tmp_path / "truth"
    source.mkdir()
    (source / "inventory.yaml").write_bytes(content)
    root = tmp_path / "root"
    root.mkdir()
    for args in (
        ("apply", str(bad)),
        ("converge", str(root), str(bad)),
        ("state", "publish", str(source), "-m", "hostile"),
        ("inventory", "load", str(bad)),
        ("apply", str(tmp_path / "missing.yaml")),
    ):
        done = run(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr, (args, done.stderr)
        assert ".yaml" in done.stderr, (args, done.stderr)
