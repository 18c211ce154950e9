"""A worker converges only the roots its own --allow rule names (issue 14, C1 of the review).

The `dl` worker is allowed pytest's base temporary directory (`allow_tmp`). A request for
`local:///`, for a directory outside that, for a `..` spelling that leads out of it, or for
a link inside it that leads out, is rejected with the reason and dead-lettered with
`x-provision-reason`; nothing is created anywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts import Target
from contracts.dead import reason_of
from producers.messaging.publisher import task_id
from producers.processes.commands import worker_argv
from producers.processes.supervisor import Child
from producers.records.ledger import Ledger
from tests.isolation import Isolated, wait_until
from tests.workers.delivery.conftest import REGION, make_target, outcome_of, publish, request


@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory the worker is not allowed: beside pytest's base directory, not in it."""
    path = Path(tempfile.mkdtemp(prefix="provision-outside-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def hostile(outside: Path) -> list[dict[str, Any]]:
    """A file, a setuid file and a command: what the review's attacker sent. Each lands in
    `outside` whatever the root (`/` or `outside` itself), were it ever applied."""
    return [
        {"kind": "file", "path": f"{outside}/from-root.conf", "content": "x\n"},
        {
            "kind": "file",
            "path": f"{outside}/planted",
            "content": "x\n",
            "mode": "4755",
            "allow_setid": True,
        },
        {"kind": "command", "argv": ["touch", f"{outside}/ran"], "name": "id"},
    ]


def test_a_request_for_a_root_the_rule_does_not_allow_is_rejected_and_nothing_is_created(
    tmp_path: Path,
    outside: Path,
    ledger: Ledger,
    conn: Any,
    delivery: Isolated,
    dl_pipeline: dict[str, Child],
    allow_tmp: str,
) -> None:
    base = Path(allow_tmp.removeprefix("local://").removesuffix("/**"))
    (tmp_path / "link").symlink_to(outside)
    up = os.path.relpath(outside, base)  # ../../provision-outside-…
    assert up.startswith("../")
    addresses = {
        "slash": "local:///",
        "outside": f"local://{outside}",
        "dotdot": f"local://{base}/{up}",
        "encoded": f"local://{base}/{up.replace('..', '%2e%2e')}",
        "link": f"local://{tmp_path}/link",
    }
    changes = {}
    for name, address in addresses.items():
        target = Target(id=f"deny-{name}", region=REGION, environment="test", address=address)
        changes[name] = request(target, hostile(outside))
        publish(conn, changes[name])
    for name, change in changes.items():
        outcome = outcome_of(ledger, change)
        assert outcome.status == "rejected", (name, outcome)
        assert "not allowed" in outcome.error.message, (name, outcome.error)
        assert "--allow rule" in outcome.error.message, (name, outcome.error)
        letter = wait_until(
            lambda c=change: delivery.dead_letter_with(task_id(c.change_id, c.target.id)),
            30,
            f"the dead letter of {name}",
        )
        reason = reason_of(letter[0].headers or {})[0] or ""
        assert reason.startswith("not allowed:"), (name, reason)
    assert sorted(os.listdir(outside)) == [], "nothing was created outside"


def test_an_allowed_root_still_converges(
    tmp_path: Path, ledger: Ledger, conn: Any, dl_pipeline: dict[str, Child]
) -> None:
    target = make_target(tmp_path)
    change = request(target, [{"kind": "file", "path": "/etc/ok.conf", "content": "ok\n"}])
    publish(conn, change)
    assert outcome_of(ledger, change).status == "changed"
    root = Path(target.address.removeprefix("local://"))
    assert (root / "etc/ok.conf").read_text() == "ok\n"


def test_a_worker_without_an_allow_rule_refuses_to_start_naming_the_flag(
    delivery: Isolated,
) -> None:
    env = {k: v for k, v in {**os.environ, **delivery.env}.items() if k != "PROVISION_WORKER_ALLOW"}
    for argv in (worker_argv(REGION), worker_argv(REGION, allow="srv/*")):
        done = subprocess.run(
            [sys.executable, *argv], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2, done
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "--allow" in lines[0], lines
    env["PROVISION_WORKER_ALLOW"] = " , "
    done = subprocess.run(
        [sys.executable, *worker_argv(REGION)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "no allow rule" in done.stderr, done
    assert json.dumps(done.stderr).count("\\n") == 1
