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
    _STAND_IN,
    SignatureRefused,
    _canonical_with,
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


@pytest.mark.parametrize(
    "unsigned",
    [
        {},
        {"desired": None},
        {"b": 1, "a": [1.5, True, None, "x"], "desired": {"z": {"y": "é\u2028\n"}, "A": []}},
        {"Z": "upper before lower", "desired": [], "_": 0, "é": "non-ASCII key", "1": -0.0},
        {"no desired here": {"nested": {"b": 2, "a": 1}}},
        {2: "keys that are not strings", 1: "take the plain way"},
    ],
)
def test_splicing_the_desired_json_gives_the_canonical_json_byte_for_byte(
    unsigned: dict[Any, Any],
) -> None:
    desired = canonical_json(unsigned.get("desired"))
    assert _canonical_with(unsigned, desired) == canonical_json(unsigned)


def test_a_request_that_carries_the_stand_in_is_serialised_whole() -> None:
    """Were the splice's stand-in known outside, a field holding it would move the splice;
    it is random per process, and a value equal to it falls back to the plain way."""
    unsigned = {"desired": {"resources": []}, "issued_by": _STAND_IN, "z": [_STAND_IN]}
    desired = canonical_json(unsigned["desired"])
    assert _canonical_with(unsigned, desired) == canonical_json(unsigned)


def test_request_bytes_are_the_same_with_the_desired_json_given_or_not() -> None:
    request = wire()
    given = canonical_json(request["desired"])
    assert request_bytes(request, given) == request_bytes(request)


def test_a_fan_out_reuses_its_desired_json_and_a_new_state_gets_its_own() -> None:
    """The publisher keeps the last desired state's JSON: every target's request verifies,
    and a request with another state after it is signed over that state, not the last."""
    now = datetime(2030, 1, 1, tzinfo=UTC)

    def request(target: str, content: str, state: DesiredState | None = None) -> ChangeRequest:
        desired = state or DesiredState.model_validate(
            {"resources": [{"kind": "file", "path": "/etc/a", "content": content}]}
        )
        return ChangeRequest(
            change_id="c-1",
            target=Target(id=target, region="eu", environment="prod", address="local:///srv"),
            desired=desired,
            issued_by="tests",
            issued_at=now,
            expires_at=now + timedelta(hours=1),
        )

    first = request("t-1", "one\n")
    shared = [first, request("t-2", "", first.desired), request("t-3", "", first.desired)]
    other = request("t-4", "two\n")
    for each in [*shared, other]:
        data = json.loads(json.dumps(signed(KEY, each).model_dump(mode="json")))
        check_request(KEY.public_key(), data)
        assert data["desired"] == each.desired.model_dump(mode="json")
    again = request("t-4", "two\n")  # an equal state in another object: signed the same
    assert signed(KEY, again).signature == signed(KEY, other).signature
