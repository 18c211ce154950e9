"""Issue 15, items 1-4: signed change events against a running controller.

A signed event from plain pika (the README's own block, no project code) rolls out; an
unsigned one, one with a flipped byte, one from an unknown or a revoked key, a stale one and
a replayed one are each refused with their reason, dead-lettered, shown by `rollout status`,
audited, and nothing is published or written to the source of truth; an issuer scoped to
`file` resources under `/etc/app` cannot send a `command`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pika
import pytest
import yaml

from broker_config import EVENTS_EXCHANGE
from contracts.dead import REASON
from contracts.signatures import (
    key_id_of,
    load_private_key,
    new_private_key,
    sign,
    write_private_key,
)
from producers.store import audit
from producers.truth.revisions import RevisionStore
from tests.isolation import ROOT, Isolated, wait_until
from tests.producers.rollouts.conftest import RolloutPlane, event, targets

pytestmark = pytest.mark.slow

README = ROOT / "README.md"


def readme_snippet() -> str:
    """The Python block that follows the `tested:` marker in the README's 'Who may change
    what' section, exactly as a reader copies it."""
    text = README.read_text()
    marker = "<!-- tested: tests/producers/keys/test_signed_events.py -->"
    assert marker in text, "the README lost the tested example"
    found = re.search(r"```python\n(.*?)```", text[text.index(marker) :], re.DOTALL)
    assert found is not None
    return found.group(1)


def make_key(iso: Isolated, tmp_path: Path, issuer: str, scope: str | None) -> tuple[Path, str]:
    """`provision keys create ISSUER --out DIR [--scope ...]`: the key file and its id."""
    args = ["keys", "create", issuer, "--out", str(tmp_path / "keys")]
    made = iso.provision(*args, *(["--scope", scope] if scope is not None else []))
    assert made.returncode == 0, made.stderr
    key_id = made.stdout.strip()
    path = tmp_path / "keys" / f"{issuer}.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert key_id == key_id_at(path)
    return path, key_id


def key_id_at(path: Path) -> str:
    """The id of the private key kept at `path`."""
    return key_id_of(load_private_key(path).public_key())


def operator_key(iso: Isolated) -> tuple[Path, str]:
    """The key the isolation's operator signs events with, and its id."""
    key = Path(iso.env["PROVISION_SIGNING_KEY"])
    return key, key_id_at(key)


def motd_of(fleet: list[dict[str, Any]]) -> Path:
    """Where the first target of `fleet` keeps /etc/motd."""
    return Path(fleet[0]["address"].removeprefix("local://")) / "etc/motd"


def publish(iso: Isolated, body: bytes, headers: dict[str, Any] | None) -> None:
    connection = iso.amqp()
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            EVENTS_EXCHANGE, "tests", body, pika.BasicProperties(headers=headers), mandatory=True
        )
    finally:
        connection.close()


def signed_by(path: Path, key_id: str, body: bytes) -> dict[str, str]:
    return {
        "x-provision-key-id": key_id,
        "x-provision-signature": sign(load_private_key(path), body),
    }


def body_of(event: dict[str, Any], **fields: Any) -> bytes:
    return json.dumps({"issued_at": datetime.now(UTC).isoformat(), **event, **fields}).encode()


def refused(plane: RolloutPlane, rid: str, words: str) -> dict[str, Any]:
    """The event was rejected for `words`: in the rollout record, `rollout status`, the dead
    letter and the audit trail; nothing was published."""
    assert plane.wait_state(rid, {"rejected", "completed", "running"}) == "rejected"
    shown = plane.iso.provision("rollout", "status", rid, "--json")
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert status["state"] == "rejected" and words in status["reason"], status["reason"]
    letter = wait_until(lambda: plane.iso.dead_letter_with(rid), 30, f"the dead letter of {rid}")
    assert words in str((letter[0].headers or {}).get(REASON))
    assert plane.published(rid) == 0
    with plane.iso.database.connection() as conn:
        trail = [e for e in audit.entries(conn, 0, 100_000) if e.subject == rid]
    assert [e.action for e in trail] == ["event.refused"]
    assert words in trail[0].detail["reason"]
    return status


def test_the_readme_example_rolls_out_from_plain_pika(plane: RolloutPlane, tmp_path: Path) -> None:
    roots = [tmp_path / name for name in ("web-1", "web-2")]
    fleet = [
        {"id": r.name, "region": "eu", "environment": "prod", "labels": {"role": "web"}}
        | {"address": f"local://{r}"}
        for r in roots
    ]
    for root in roots:
        root.mkdir()
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump({"targets": fleet}))
    assert plane.iso.provision("inventory", "load", str(inventory)).returncode == 0
    key, key_id = make_key(plane.iso, tmp_path, "deploy-service", "{paths: [/etc/app]}")
    snippet = tmp_path / "emit.py"
    snippet.write_text(readme_snippet())
    env = {"KEY_FILE": str(key), "KEY_ID": key_id, "AMQP_URL": plane.iso.broker_url}
    ran = subprocess.run(
        [sys.executable, "-I", str(snippet)],  # -I: no PYTHONPATH, so no project import
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    written = [root / "etc/app/app.conf" for root in roots]
    wait_until(lambda: all(p.exists() for p in written), 90, "the README's change on disk")
    assert {p.read_text() for p in written} == {"workers = 8\n"}
    with plane.iso.database.connection() as conn:
        accepted = [e for e in audit.entries(conn, 0, 100_000) if e.action == "event.accepted"]
    mine = [e for e in accepted if e.detail["key_id"] == key_id]
    assert len(mine) == 1 and mine[0].actor == "deploy-service"
    assert mine[0].detail["targets"] == 2 and mine[0].detail["selector"] == {
        "labels": {"role": "web"}
    }
    assert plane.state(mine[0].subject)["issued_by"] == "deploy-service"


def test_unsigned_forged_unknown_revoked_stale_and_replayed_events_are_refused(
    plane: RolloutPlane, tmp_path: Path
) -> None:
    iso = plane.iso
    key, key_id = operator_key(iso)
    fleet = targets(tmp_path, 1, prefix="r")
    disk = motd_of(fleet)

    unsigned = event(fleet)
    publish(iso, body_of(unsigned), None)
    refused(plane, unsigned["event_id"], "unsigned")

    flipped = event(fleet)
    body = body_of(flipped)
    headers = signed_by(key, key_id, body)
    publish(iso, body.replace(b"hi\\n", b"hI\\n"), headers)  # one byte of the content
    refused(plane, flipped["event_id"], "bad signature")

    stranger = tmp_path / "stranger.key"
    write_private_key(stranger, new_private_key())
    unknown = event(fleet)
    body = body_of(unknown)
    publish(iso, body, signed_by(stranger, key_id_at(stranger), body))
    refused(plane, unknown["event_id"], "unknown key")

    gone, gone_id = make_key(iso, tmp_path, "retired-service", "{}")
    revoked = iso.provision("keys", "revoke", gone_id)
    assert revoked.returncode == 0, revoked.stderr
    listed = json.loads(iso.provision("keys", "list", "--json").stdout)["keys"]
    assert [k["revoked_at"] is not None for k in listed if k["key_id"] == gone_id] == [True]
    late = event(fleet)
    body = body_of(late)
    publish(iso, body, signed_by(gone, gone_id, body))
    refused(plane, late["event_id"], "revoked key")

    stale = event(fleet)
    body = body_of(stale, issued_at=(datetime.now(UTC) - timedelta(seconds=900)).isoformat())
    publish(iso, body, signed_by(key, key_id, body))
    refused(plane, stale["event_id"], "stale")
    assert not disk.exists(), "a refused event changed a target"

    original = event(fleet)
    body = body_of(original)
    publish(iso, body, signed_by(key, key_id, body))
    assert plane.wait_state(original["event_id"], {"completed", "halted"}, 90) == "completed"
    assert disk.read_text() == "hi\n"
    publish(iso, body, signed_by(key, key_id, body))  # the same bytes again: a no-op
    other = body_of(original, resources=[{"kind": "file", "path": "/etc/motd", "content": "x\n"}])
    publish(iso, other, signed_by(key, key_id, other))
    letter = wait_until(lambda: iso.dead_letter_with("x\\n"), 30, "the replay's dead letter")
    assert "replayed" in str((letter[0].headers or {}).get(REASON))
    assert plane.state(original["event_id"])["state"] == "completed"
    assert plane.published(original["event_id"]) == 1 and disk.read_text() == "hi\n"
    with iso.database.connection() as conn:
        trail = [e.action for e in audit.entries(conn, 0, 100_000)]
    assert "issuer.key_revoked" in trail and "issuer.key_created" in trail
    assert RevisionStore(iso.database).latest_number() == 0, "nothing in the source of truth"


def test_an_unsigned_claim_on_an_event_id_does_not_block_the_signed_event(
    plane: RolloutPlane, tmp_path: Path
) -> None:
    """Whoever can publish could send an unsigned event under an id first: its refusal is
    recorded, but the verified event with that id still rolls out (it is not a no-op)."""
    iso = plane.iso
    key, key_id = operator_key(iso)
    fleet = targets(tmp_path, 1, prefix="p")
    disk = motd_of(fleet)
    genuine = event(fleet)
    claim = body_of(genuine, resources=[{"kind": "file", "path": "/etc/motd", "content": "x\n"}])
    publish(iso, claim, None)
    refused(plane, genuine["event_id"], "unsigned")
    body = body_of(genuine)
    publish(iso, body, signed_by(key, key_id, body))
    assert plane.wait_state(genuine["event_id"], {"completed", "halted"}, 90) == "completed"
    assert disk.read_text() == "hi\n"
    with iso.database.connection() as conn:
        moves = conn.execute(
            "SELECT to_state FROM rollout_transitions WHERE rollout_id = %s ORDER BY id",
            (genuine["event_id"],),
        ).fetchall()
    assert [m[0] for m in moves][:2] == ["rejected", "planned"], "the refusal stays on record"


def test_an_issuer_scoped_to_files_under_etc_app_cannot_send_a_command(
    plane: RolloutPlane, tmp_path: Path
) -> None:
    iso = plane.iso
    key, key_id = make_key(iso, tmp_path, "app-files", "{kinds: [file], paths: [/etc/app]}")
    fleet = targets(tmp_path, 1, prefix="s")
    root = Path(fleet[0]["address"].removeprefix("local://"))

    command = event(fleet, resources=[{"kind": "command", "argv": ["touch", "/tmp/pwned"]}])
    body = body_of(command, issued_by="release-bot")
    publish(iso, body, signed_by(key, key_id, body))
    status = refused(plane, command["event_id"], "outside the scope of app-files")
    assert "kind command" in status["reason"]

    elsewhere = event(fleet, resources=[{"kind": "file", "path": "/etc/passwd", "content": "x"}])
    body = body_of(elsewhere)
    publish(iso, body, signed_by(key, key_id, body))
    refused(plane, elsewhere["event_id"], "is not under")

    allowed = event(fleet, resources=[{"kind": "file", "path": "/etc/app/a.conf", "content": "a"}])
    body = body_of(allowed, issued_by="release-bot")  # what it calls itself is not recorded
    publish(iso, body, signed_by(key, key_id, body))
    assert plane.wait_state(allowed["event_id"], {"completed", "halted"}, 90) == "completed"
    assert (root / "etc/app/a.conf").read_text() == "a"
    assert plane.state(allowed["event_id"])["issued_by"] == "app-files"
    shown = json.loads(iso.provision("status", allowed["event_id"], "--json").stdout)
    assert shown["issued_by"] == "app-files"
