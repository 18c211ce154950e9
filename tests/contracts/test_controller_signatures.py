"""The controller's signed bytes (contracts/controller_signatures.py), without services: what
a worker and an agent verify, and that changing anything a request or state says breaks it."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts import ChangeRequest, DesiredState, Target
from contracts.controller_signatures import (
    SignatureRefused,
    canonical_json,
    check_request,
    check_state,
    request_bytes,
    sign_state,
)
from contracts.signatures import new_private_key
from producers.messaging.publisher import signed

KEY = new_private_key()


def wire(**override: Any) -> dict[str, Any]:
    """A signed request as it travels (`kwargs.request` of the task message)."""
    now = datetime(2030, 1, 1, tzinfo=UTC)
    request = ChangeRequest(
        change_id="c-1",
        target=Target(id="t-1", region="eu", environment="prod", address="local:///srv/t-1"),
        desired=DesiredState.model_validate(
            {"resources": [{"kind": "file", "path": "/etc/a", "content": "x\n"}]}
        ),
        issued_by="tests",
        issued_at=now,
        expires_at=now + timedelta(hours=1),
        sequence=7,
    )
    data: dict[str, Any] = json.loads(json.dumps(signed(KEY, request).model_dump(mode="json")))
    data.update(override)
    return data


def test_the_signed_bytes_are_the_documented_lines() -> None:
    request = wire()
    unsigned = {k: v for k, v in request.items() if k != "signature"}
    lines = request_bytes(request).decode().split("\n")
    assert lines[:5] == [
        "provision-request-v1",
        '"c-1"',
        '"t-1"',
        "7",
        json.dumps(request["expires_at"]),
    ]
    assert lines[5] == hashlib.sha256(canonical_json(request["desired"])).hexdigest()
    assert lines[6] == hashlib.sha256(canonical_json(unsigned)).hexdigest()
    assert lines[7] == "" and len(lines) == 8  # every line ends with \n


def test_a_signed_request_verifies_and_survives_a_round_trip_through_the_model() -> None:
    request = wire()
    check_request(KEY.public_key(), request)
    again = ChangeRequest.model_validate(request).model_dump(mode="json")  # a retry's copy
    check_request(KEY.public_key(), json.loads(json.dumps(again)))


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ({"signature": None}, "unsigned"),
        ({"signature": 5}, "not a string"),
        ({"signature": "A" * 86 + "=="}, "bad signature"),
        ({"change_id": "c-2"}, "bad signature"),
        ({"sequence": 8}, "bad signature"),
        ({"expires_at": "2099-01-01T00:00:00Z"}, "bad signature"),
        ({"dry_run": True}, "bad signature"),
        ({"target": {"id": "t-1", "region": "eu", "environment": "prod", "address": "local:///"}},
         "bad signature"),
        ({"desired": {"resources": []}}, "bad signature"),
    ],
)  # fmt: skip
def test_anything_changed_under_a_signature_is_refused(
    override: dict[str, Any], words: str
) -> None:
    with pytest.raises(SignatureRefused, match=words):
        check_request(KEY.public_key(), wire(**override))


def test_another_keys_signature_and_a_non_object_are_refused() -> None:
    with pytest.raises(SignatureRefused, match="bad signature"):
        check_request(new_private_key().public_key(), wire())
    with pytest.raises(SignatureRefused, match="unsigned"):
        check_request(KEY.public_key(), ["not", "an", "object"])


def test_a_state_signature_binds_target_revision_and_bytes() -> None:
    state = b'{"resources":[]}'
    signature = sign_state(KEY, "t-1", 3, state)
    check_state(KEY.public_key(), "t-1", 3, state, signature)
    for target, revision, data in (("t-2", 3, state), ("t-1", 4, state), ("t-1", 3, state + b" ")):
        with pytest.raises(SignatureRefused, match="bad signature"):
            check_state(KEY.public_key(), target, revision, data, signature)
    with pytest.raises(SignatureRefused, match="unsigned"):
        check_state(KEY.public_key(), "t-1", 3, state, None)
