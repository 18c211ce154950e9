"""A worker applies only what the controller signed (issue 15, item 5).

A task message published straight onto a region queue (no signature), one altered after it
was signed, and one signed by another key are each refused before anything is locked or
applied: dead-lettered with the reason and reported as a `rejected` outcome the aggregator
records. A request the controller signed converges. A worker without the controller's
public key does not start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from contracts import ChangeRequest
from contracts.controller_signatures import CONTROLLER_PUBLIC_KEY_ENV
from contracts.dead import REASON
from contracts.signatures import new_private_key
from producers.messaging.publisher import signed, task_message
from producers.processes.commands import worker_argv
from producers.processes.supervisor import Child
from producers.records.ledger import Ledger
from tests.isolation import Isolated, controller_key, publish_task, wait_until
from tests.workers.delivery.conftest import REGION, make_target, outcome_of, publish, request

pytestmark = pytest.mark.slow

PLANTED = [{"kind": "file", "path": "/etc/planted.conf", "content": "owned\n"}]


def inject(conn: Any, change: ChangeRequest, body: bytes | None = None) -> str:
    """Publish a task message straight onto the change's region, as any broker user can."""
    headers, made = task_message(change)
    publish_task(conn, change.target.routing_key, headers, body if body is not None else made)
    return str(headers["id"])


def refused(delivery: Isolated, ledger: Ledger, change: ChangeRequest, task_id: str) -> str:
    """The dead letter's reason; the aggregator recorded the refusal as `rejected`."""
    found = wait_until(lambda: delivery.dead_letter_with(task_id), 60, "the dead letter")
    reason = str(found[0].headers[REASON])
    stored = outcome_of(ledger, change)
    assert stored.status == "rejected", stored
    assert stored.error is not None and stored.error.type == "BadSignature"
    return reason


def untouched(change: ChangeRequest) -> None:
    root = Path(change.target.address.removeprefix("local://"))
    assert list(root.iterdir()) == [], "nothing may be written into the target's root"


def test_a_task_message_injected_onto_a_region_queue_is_refused_and_nothing_applied(
    tmp_path: Path, conn: Any, ledger: Ledger, delivery: Isolated, dl_pipeline: dict[str, Child]
) -> None:
    change = request(make_target(tmp_path), PLANTED, sequence=10**12)
    reason = refused(delivery, ledger, change, inject(conn, change))
    assert reason.startswith("unsigned change request"), reason
    untouched(change)


def test_a_request_altered_after_signing_or_signed_by_another_key_is_refused(
    tmp_path: Path, conn: Any, ledger: Ledger, delivery: Isolated, dl_pipeline: dict[str, Child]
) -> None:
    other = signed(new_private_key(), request(make_target(tmp_path), PLANTED))
    assert "bad signature" in refused(delivery, ledger, other, inject(conn, other))
    untouched(other)

    genuine = signed(controller_key(), request(make_target(tmp_path), []))
    _, body = task_message(genuine)
    args, kwargs, embed = json.loads(body)
    kwargs["request"]["desired"] = {"resources": PLANTED}  # the signature stays the old one
    forged = json.dumps([args, kwargs, embed]).encode()
    assert "bad signature" in refused(delivery, ledger, genuine, inject(conn, genuine, forged))
    untouched(genuine)


def test_a_request_the_controller_signed_converges(
    tmp_path: Path, conn: Any, ledger: Ledger, dl_pipeline: dict[str, Child]
) -> None:
    change = request(make_target(tmp_path), [{"kind": "file", "path": "/etc/ok", "content": "1"}])
    publish(conn, change)  # through the Publisher, with the session's controller key
    assert outcome_of(ledger, change).status == "changed"
    root = Path(change.target.address.removeprefix("local://"))
    assert (root / "etc/ok").read_text() == "1"


def test_a_worker_without_the_controllers_public_key_refuses_to_start_naming_the_flag(
    delivery: Isolated, allow_tmp: str, tmp_path: Path
) -> None:
    env = {
        k: v for k, v in {**os.environ, **delivery.env}.items() if k != CONTROLLER_PUBLIC_KEY_ENV
    }
    argv = worker_argv(REGION, allow=allow_tmp)
    done = subprocess.run(
        [sys.executable, *argv], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--controller-public-key" in lines[0], lines
    (tmp_path / "not-a-key.pub").write_text("hello\n")
    argv = worker_argv(
        REGION, allow=allow_tmp, controller_public_key=str(tmp_path / "not-a-key.pub")
    )
    done = subprocess.run(
        [sys.executable, *argv], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "not a PEM public key" in done.stderr, done
