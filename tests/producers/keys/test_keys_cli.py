"""`provision keys create|list|revoke` and `provision apply`'s key, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from producers.store import audit
from tests.isolation import Isolated, Isolation, provision

#: Runs `provision` as a subprocess: not in the quick loop.
pytestmark = pytest.mark.slow


@pytest.fixture
def iso(isolation: Isolation) -> Isolated:
    return isolation("session")


def test_create_without_scope_makes_the_pair_and_registers_nothing(
    tmp_path: Path, iso: Isolated
) -> None:
    made = iso.provision("keys", "create", "billing", "--out", str(tmp_path / "k"))
    assert made.returncode == 0, made.stderr
    key_id = made.stdout.strip()
    assert key_id.startswith("ed25519:") and "not registered" in made.stderr
    assert (tmp_path / "k" / "billing.key").stat().st_mode & 0o777 == 0o600
    assert "BEGIN PUBLIC KEY" in (tmp_path / "k" / "billing.pub").read_text()
    assert "PRIVATE" not in made.stdout + made.stderr, "the private key is never shown"
    listed = json.loads(iso.provision("keys", "list", "--json").stdout)["keys"]
    assert key_id not in {k["key_id"] for k in listed}
    again = iso.provision("keys", "create", "billing", "--out", str(tmp_path / "k"))
    assert again.returncode == 2 and "exists" in again.stderr


def test_create_with_scope_registers_lists_and_revokes_with_audit(
    tmp_path: Path, iso: Isolated
) -> None:
    scope = "{kinds: [file], paths: [/etc/app], max_targets: 3}"
    made = iso.provision("keys", "create", "app-cli", "--out", str(tmp_path), "--scope", scope)
    assert made.returncode == 0, made.stderr
    key_id = made.stdout.strip()
    listed = json.loads(iso.provision("keys", "list", "--json").stdout)["keys"]
    (mine,) = [k for k in listed if k["key_id"] == key_id]
    assert mine["issuer"] == "app-cli" and mine["source"] == "database"
    assert mine["scope"] == {"kinds": ["file"], "paths": ["/etc/app"], "max_targets": 3}
    assert mine["revoked_at"] is None
    assert iso.provision("keys", "revoke", key_id).returncode == 0
    listed = json.loads(iso.provision("keys", "list", "--json").stdout)["keys"]
    assert [k["revoked_at"] is not None for k in listed if k["key_id"] == key_id] == [True]
    with iso.database.connection() as conn:
        mine_only = [e for e in audit.entries(conn, 0, 100_000) if key_id in json.dumps(e.detail)]
    assert [e.action for e in mine_only] == ["issuer.key_created", "issuer.key_revoked"]

    unknown = iso.provision("keys", "revoke", "ed25519:0000000000000000")
    assert unknown.returncode == 2 and "no issuer has a key" in unknown.stderr
    bad = iso.provision("keys", "create", "x", "--out", str(tmp_path), "--scope", "{kinds: [cmd]}")
    assert bad.returncode == 2 and "--scope" in bad.stderr and "kinds" in bad.stderr
    assert not (tmp_path / "x.key").exists(), "nothing is written for a refused scope"


def test_apply_without_a_key_says_how_to_get_one(tmp_path: Path, iso: Isolated) -> None:
    change = tmp_path / "change.yaml"
    change.write_text("resources: [{kind: file, path: /etc/motd, content: hi}]\n")
    done = provision("apply", str(change), env={**iso.env, "PROVISION_SIGNING_KEY": ""})
    assert done.returncode == 2
    assert "no signing key" in done.stderr and "--key" in done.stderr
    loose = tmp_path / "loose.key"
    loose.write_text("x")
    loose.chmod(0o644)
    done = iso.provision("apply", str(change), "--key", str(loose))
    assert done.returncode == 2 and "readable by others" in done.stderr
