"""Sensitive content never shows in the control plane's records and displays.

`provision dlq show` rows and `provision state show` carry a digest and a size instead;
what is delivered keeps the real content. (Rollout books and refused events:
tests/producers/rollouts/test_book.py.)
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

from contracts import Target
from contracts.events import ChangeEvent
from producers.messaging.dlq import DeadLetter
from tests.isolation import ROOT, provision

SECRET = "db_password=hunter2"
TARGET = Target(id="sec-1", region="eu", environment="test", address="local:///tmp/sec-1")
RESOURCES = [
    {"kind": "file", "path": "/etc/app/secret.env", "content": SECRET + "\n", "sensitive": True},
    {"kind": "line", "path": "/etc/app/secret.env", "line": "api_key=0p3n"},
]


def _event() -> ChangeEvent:
    return ChangeEvent.model_validate(
        {
            "event_id": str(uuid.uuid4()),
            "issued_by": "test",
            "resources": RESOURCES,
            "targets": [TARGET.model_dump(mode="json")],
        }
    )


def test_dlq_show_redacts_the_body_and_celerys_reprs() -> None:
    request = {"change_id": "c", "desired": {"resources": RESOURCES}, "target": {"id": "x"}}
    body = json.dumps([[], {"request": request}, {}]).encode()
    letter = DeadLetter(
        id="t",
        reason="expired",
        source="eu.test.x",
        exchange="provision.changes",
        routing_key="eu.test.x",
        attempts=1,
        trace_id=None,
        dead_at=None,
        body=body,
        headers={"kwargsrepr": repr({"request": request}), "task": "provision.converge"},
    )
    shown = json.dumps(letter.as_json(with_body=True))
    assert "hunter2" not in shown and "0p3n" not in shown
    assert "provision.converge" in shown
    assert letter.body == body  # a replay republishes the original


def test_state_show_displays_a_digest_not_the_content(
    tmp_path: Path, session_services: Any
) -> None:
    from producers.store.database import Database
    from producers.truth.revisions import RevisionStore
    from tests.databases import drop_database, make_database

    truth = Path(shutil.copytree(ROOT / "examples" / "truth", tmp_path / "truth"))
    web = truth / "roles" / "web.yaml"
    web.write_text(
        web.read_text()
        + "  - kind: file\n    path: /etc/app/secret.env\n    sensitive: true\n"
        + f'    content: "{SECRET}\\n"\n'
        + "  - kind: line\n    path: /etc/app//secret.env\n    line: api_key=0p3n\n"
    )
    name = f"provisioning_test_sensitive_{uuid.uuid4().hex[:8]}"
    env = {"PROVISION_DATABASE_URL": make_database(name)}  # revisions start at 1
    try:
        done = provision("state", "publish", str(truth), "-m", "secret", env=env)
        assert done.returncode == 0, done.stderr
        for args in ((), ("--json",)):
            shown = provision("state", "show", "web-eu-prod", *args, env=env)
            assert shown.returncode == 0, shown.stderr
            assert "/etc/app/secret.env" in shown.stdout
            assert "hunter2" not in shown.stdout and "0p3n" not in shown.stdout
            assert "sha256:" in shown.stdout
        with Database.open(env["PROVISION_DATABASE_URL"], max_size=1) as db:
            delivered = RevisionStore(db).rendered(1, "web-eu-prod")
        assert b"hunter2" in delivered  # the stored state an agent fetches is whole
    finally:
        drop_database(name)


def test_redacting_a_body_too_deep_to_parse_neither_crashes_nor_shows_a_secret() -> None:
    from contracts.redaction import redact_text

    nested = b"[" * 100_000
    assert redact_text(nested) == nested.decode()  # nothing sensitive: shown as it is
    secret = b'{"sensitive": true, "content": "hunter2", "x": ' + nested
    assert "hunter2" not in redact_text(secret)
