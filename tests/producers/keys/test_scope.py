"""Issuers and their scope without services: issuers.yaml validation (file, field, reason),
the signature checks in the order the controller runs them, freshness, and scope."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts import Target
from contracts.events import ChangeEvent
from contracts.issuers import Scope
from contracts.signatures import key_id_of, new_private_key, public_pem, sign
from producers.rollouts.authority import Signer, check_fresh, check_scope, signer_of
from producers.rollouts.intake import Refusal
from producers.truth.errors import SourceInvalid
from producers.truth.issuers import KnownKey
from producers.truth.source import load

KEY = new_private_key()
KEY_ID = key_id_of(KEY.public_key())
NOW = datetime.now(UTC)


class Known:
    """Stands in for the registry: one key, revoked or not."""

    def __init__(self, revoked: bool = False, scope: Scope | None = None) -> None:
        self.known = KnownKey(
            KEY_ID,
            "svc",
            public_pem(KEY),
            scope or Scope(),
            "database",
            NOW,
            NOW if revoked else None,
        )

    def lookup(self, key_id: str) -> KnownKey | None:
        return self.known if key_id == KEY_ID else None


def truth(tmp_path: Path, issuers: Any) -> Path:
    target = {"id": "a", "region": "eu", "environment": "p", "address": "local:///a"}
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump({"targets": [target]}))
    (tmp_path / "issuers.yaml").write_text(yaml.safe_dump(issuers))
    return tmp_path


def test_issuers_yaml_is_part_of_the_truth(tmp_path: Path) -> None:
    entry = {"name": "deploy", "keys": [{"id": KEY_ID, "public_key": public_pem(KEY)}]}
    entry["scope"] = {"kinds": ["file"], "paths": ["/etc/app/"], "max_targets": 5}
    bundle = load(truth(tmp_path, {"issuers": [entry]}))
    (issuer,) = bundle.issuers
    assert issuer.name == "deploy" and issuer.scope.paths == ("/etc/app",)
    assert issuer.keys[0].id == KEY_ID


@pytest.mark.parametrize(
    ("issuers", "field", "words"),
    [
        ([{"name": "x", "keys": [{"id": "k", "public_key": "nope"}]}], "public_key", "PEM"),
        ([{"name": "x", "keys": []}], "keys", "at least 1"),
        ([{"name": "x y", "keys": [{"id": "k", "public_key": "-"}]}], "name", "pattern"),
        ([{"name": "x", "keys": [{"id": "k", "public_key": "-"}], "scope": {"kinds": ["cmd"]}}],
         "scope.kinds", "'file'"),
        ([{"name": "x", "keys": [{"id": "k", "public_key": "-"}], "scope": {"paths": ["etc"]}}],
         "scope.paths", "not an absolute path"),
        ([{"name": "x", "keys": [{"id": "k", "public_key": "-"}], "scope": {"shel": True}}],
         "scope.shel", "Extra inputs"),
    ],
)  # fmt: skip
def test_a_bad_issuers_yaml_names_file_field_and_reason(
    tmp_path: Path, issuers: list[dict[str, Any]], field: str, words: str
) -> None:
    for issuer in issuers:
        for key in issuer["keys"]:
            if key["public_key"] == "-":
                key["public_key"] = public_pem(KEY)
    with pytest.raises(SourceInvalid) as caught:
        load(truth(tmp_path, {"issuers": issuers}))
    lines = [f"{where}: {reason}" for where, reason in caught.value.problems]
    assert any("issuers.yaml" in line and field in line and words in line for line in lines), lines


def test_a_key_listed_for_two_issuers_is_refused(tmp_path: Path) -> None:
    key = {"id": KEY_ID, "public_key": public_pem(KEY)}
    issuers = [{"name": "a", "keys": [key]}, {"name": "b", "keys": [key]}]
    with pytest.raises(SourceInvalid) as caught:
        load(truth(tmp_path, {"issuers": issuers}))
    assert "also 'a'" in str(caught.value.problems)


def body(**fields: Any) -> bytes:
    event = {
        "event_id": str(uuid.uuid4()),
        "issued_by": "whoever",
        "issued_at": NOW.isoformat(),
        "resources": [{"kind": "file", "path": "/etc/app/a", "content": "a"}],
    }
    return json.dumps({**event, **fields}).encode()


def headers(data: bytes, key_id: str = KEY_ID) -> dict[str, str]:
    return {"x-provision-key-id": key_id, "x-provision-signature": sign(KEY, data)}


def test_the_signature_decides_who_sent_it() -> None:
    data = body()
    assert signer_of(data, headers(data), Known()).issuer == "svc"  # type: ignore[arg-type]
    cases = [
        (None, "unsigned"),
        ({"x-provision-key-id": KEY_ID}, "unsigned"),
        ({"x-provision-key-id": KEY_ID, "x-provision-signature": "A" * 88}, "bad signature"),
        (headers(data, "ed25519:ffffffffffffffff"), "unknown key"),
        ({**headers(data), "x-provision-key-id": "\u202e" * 10}, "unsigned"),
        ({**headers(data), "x-provision-signature": b"\xff" * 88}, "unsigned"),
    ]
    for given, words in cases:
        with pytest.raises(Refusal, match=words):
            signer_of(data, given, Known())  # type: ignore[arg-type]
    flipped = bytearray(data)
    flipped[-3] ^= 1
    with pytest.raises(Refusal, match="bad signature"):
        signer_of(bytes(flipped), headers(data), Known())  # type: ignore[arg-type]
    with pytest.raises(Refusal, match="revoked key"):
        signer_of(data, headers(data), Known(revoked=True))  # type: ignore[arg-type]


def test_an_event_outside_the_window_is_stale() -> None:
    fresh = ChangeEvent.model_validate_json(body())
    check_fresh(fresh, NOW + timedelta(seconds=200))
    for skew in (301, -301):
        with pytest.raises(Refusal, match=r"stale.*PROVISION_LIMIT_EVENT_WINDOW_S=300"):
            check_fresh(fresh, NOW + timedelta(seconds=skew))
    undated = ChangeEvent.model_validate_json(body(issued_at=None))
    with pytest.raises(Refusal, match="stale: issued_at is missing"):
        check_fresh(undated, NOW)


def fleet(*labels: str) -> list[Target]:
    return [
        Target(id=f"t{i}", region="eu", environment="prod", address=f"local:///t{i}",
               labels={"role": role})
        for i, role in enumerate(labels)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("scope", "fields", "words"),
    [
        ({"kinds": ["file"], "paths": ["/etc/app"]},
         {"resources": [{"kind": "command", "argv": ["true"]}]}, "kind command"),
        ({"paths": ["/etc/app"]},
         {"resources": [{"kind": "file", "path": "/etc/application", "content": ""}]},
         "not under /etc/app"),
        ({"paths": ["/etc/app"]},
         {"resources": [{"kind": "symlink", "path": "/etc/app/l", "destination": "/etc/shadow"}]},
         "destination /etc/shadow"),
        ({}, {"resources": [{"kind": "command", "argv": ["echo hi"], "shell": True}]},
         "shell: true"),
        ({}, {"resources": [{"kind": "file", "path": "/x", "mode": "4755", "allow_setid": True}]},
         "allow_setid"),
        ({"max_targets": 1}, {}, "2 targets selected"),
        ({"selectors": [{"labels": {"role": "web"}}]}, {}, "target t1 is not matched"),
        ({"kinds": ["file"]}, {"resources": [], "revision": 3}, "rolling out a revision"),
    ],
)  # fmt: skip
def test_scope_refuses_what_it_does_not_grant(
    scope: dict[str, Any], fields: dict[str, Any], words: str
) -> None:
    event = ChangeEvent.model_validate_json(body(**fields))
    signer = Signer("svc", KEY_ID, Scope.model_validate(scope))
    with pytest.raises(Refusal, match=f"outside the scope of svc: .*{words}"):
        check_scope(signer, event, fleet("web", "db"))


def test_scope_grants_what_it_names() -> None:
    event = ChangeEvent.model_validate_json(body())
    scope = Scope(kinds=("file",), paths=("/etc/app",), selectors=(), max_targets=2)
    check_scope(Signer("svc", KEY_ID, scope.model_copy(update={"selectors": None})), event,
                fleet("web", "db"))  # fmt: skip
    inline = ChangeEvent.model_validate_json(body(targets=[t.model_dump() for t in fleet("w")]))
    web_only = Scope.model_validate({"selectors": [{"labels": {"role": "web"}}]})
    with pytest.raises(Refusal, match="inline fleet"):
        check_scope(Signer("svc", KEY_ID, web_only), inline, fleet("web"))
