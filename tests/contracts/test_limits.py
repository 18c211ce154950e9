"""The limits of issue 10, checked without services: each refusal names the limit and the
value; files that are unreadable, not UTF-8, too big, too deep or alias bombs exit 2 with
the file and the reason, never a traceback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from contracts import ContractError, limits
from contracts.controller_signatures import sign_request
from contracts.documents import read_document
from contracts.events import RolloutPolicy
from contracts.signatures import new_private_key
from producers.pull.desk import is_direct_reply_to
from workers.delivery import controller_key
from workers.delivery.admission import Refused, admit

#: The controller whose signature these messages carry.
CONTROLLER = new_private_key()

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdef", "bcdefg", strict=True)
)


def test_json_depth_is_measured_without_parsing_and_ignores_strings() -> None:
    assert limits.json_depth(b'{"a": [[1], "[[[[", {"b": "]]"}]}') == 3
    assert limits.json_depth(b"[" * 100_000) == 100_000
    assert limits.json_depth(b'"\\"[["') == 0
    with pytest.raises(limits.LimitExceeded, match="PROVISION_LIMIT_JSON_DEPTH=64"):
        limits.check_json("event", b"[" * 65 + b"]" * 65, 1 << 20, "EVENT_BYTES")
    with pytest.raises(limits.LimitExceeded, match=r"PROVISION_LIMIT_CHECKIN_BYTES=16384"):
        limits.check_json("check-in", b" " * 16_385, limits.CHECKIN_BYTES, "CHECKIN_BYTES")


def test_a_limit_is_overridden_by_its_environment_variable(monkeypatch: Any) -> None:
    limit = limits.limit("TARGETS_PER_EVENT")
    assert limit.value == 10_000 and limit.env == "PROVISION_LIMIT_TARGETS_PER_EVENT"
    monkeypatch.setenv(limit.env, "50")
    assert limit.value == 50
    assert {item.name for item in limits.all_limits()} >= {"EVENT_BYTES", "WAVES", "QUEUE_BYTES"}


@pytest.mark.parametrize(
    ("policy", "words"),
    [
        ({"rate_per_s": 1e-20}, "rate_per_s 1e-20 is outside"),
        ({"rate_per_s": 1e9}, "PROVISION_LIMIT_RATE_MAX_PER_S"),
        ({"waves": [1] * 101}, "101 waves exceed the limit PROVISION_LIMIT_WAVES=100"),
    ],
)
def test_rollout_policies_beyond_the_limits_are_refused(policy: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        RolloutPolicy.model_validate(policy)


def test_only_direct_reply_to_is_answered() -> None:
    assert is_direct_reply_to("amq.rabbitmq.reply-to")
    assert is_direct_reply_to("amq.rabbitmq.reply-to.g1h2AA5yZXBseQ==.abc")
    for bad in (
        None,
        "",
        "provision.events",
        "provision.changes.eu",
        "amq.rabbitmq.reply-tox",
        "amq.rabbitmq.reply-to.forged",
        "amq.rabbitmq.reply-to.a b.c",
    ):
        assert not is_direct_reply_to(bad)


def message(headers: dict[str, Any], body: bytes) -> Any:
    headers = {"id": "task-1", "lang": "py", **headers} if headers else headers
    return SimpleNamespace(headers=headers, body=body, content_type="application/json")


def good_body(expires_in_s: float = 300) -> bytes:
    """A body whose request the controller signed (so only the limits can refuse it)."""
    expires = (datetime.now(UTC) + timedelta(seconds=expires_in_s)).isoformat()
    request: dict[str, Any] = {"expires_at": expires}
    request["signature"] = sign_request(CONTROLLER, request)
    return f'[[], {{"request": {__import__("json").dumps(request)}}}, {{}}]'.encode()


@pytest.fixture
def verifying() -> Any:
    """This process verifies requests with CONTROLLER's public key, as a worker would."""
    before = controller_key.installed()
    controller_key.install(CONTROLLER.public_key())
    yield
    if before is not None:
        controller_key.install(before)


@pytest.mark.usefixtures("verifying")
def test_a_task_message_gets_a_time_limit_from_its_deadline() -> None:
    ok = message({"task": "provision.converge", "timelimit": [None, None]}, good_body(60))
    admit(ok)
    hard, soft = ok.headers["timelimit"]
    assert 60 <= soft <= 60 + limits.TASK_TIME_GRACE_S + 1 and hard > soft
    far = message({"task": "provision.converge"}, good_body(10 * 86_400))
    admit(far)
    assert far.headers["timelimit"][1] == limits.TASK_TIME_LIMIT_S


@pytest.mark.parametrize(
    ("headers", "body", "words"),
    [
        ({"task": "provision.converge"}, b'{"a": 1}', "[args, kwargs, embed]"),
        ({"task": "celery.accumulate"}, b"[[], {}, {}]", "is not allowed"),
        ({}, b"[]", "no 'task' header"),
        ({"task": "provision.converge"}, b"[" * 1000, "PROVISION_LIMIT_JSON_DEPTH"),
        ({"task": "provision.converge"}, b"[[1], {}, {}]", "no positional arguments"),
        ({"task": "provision.converge", "id": 7}, b"[[], {}, {}]", "is not a task id"),
        ({"task": "provision.converge", "retries": [1]}, b"[[], {}, {}]", "is not a count"),
        ({"task": "provision.converge", "lang": "js"}, b"[[], {}, {}]", "is not 'py'"),
        ({"task": "provision.converge", "expires": "x"}, b"[[], {}, {}]", "not an ISO time"),
        ({"task": "provision.converge", "timelimit": "9"}, b"[[], {}, {}]", "[hard, soft]"),
        ({"task": "provision.converge"}, b'[[], {"x": 1}, {}]', "unexpected task argument"),
        ({"task": "provision.converge"}, b'[[], {}, {"chain": [{}]}]', "embedded chain"),
        ({"task": "provision.converge", "eta": "2099-01-01T00:00:00+00:00"}, None, "ETA_HORIZON"),
    ],
)
def test_task_messages_other_than_ours_are_refused(
    headers: dict[str, Any], body: bytes | None, words: str
) -> None:
    with pytest.raises(Refused, match=words.replace("[", r"\[")):
        admit(message(headers, body if body is not None else good_body()))


@pytest.mark.usefixtures("verifying")
def test_an_eta_past_the_requests_deadline_is_refused() -> None:
    eta = (datetime.now(UTC) + timedelta(seconds=120)).isoformat()
    with pytest.raises(Refused, match="after the request's deadline"):
        admit(message({"task": "provision.converge", "eta": eta}, good_body(60)))


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"targets: [\xff\xfe]\n", "not UTF-8"),
        (LAUGHS.encode(), "PROVISION_LIMIT_YAML_EXPANDED_NODES"),
        (b"[" * 5000 + b"]" * 5000, "nest"),
        (b"x: 1\n" + b"#" * (limits.FILE_BYTES + 1), "PROVISION_LIMIT_FILE_BYTES"),
    ],
)
def test_hostile_files_are_refused_with_the_file_and_the_reason(
    tmp_path: Path, content: bytes, words: str
) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_bytes(content)
    with pytest.raises(ContractError, match=words) as info:
        read_document(path)
    assert str(path) in str(info.value)


def test_small_aliases_still_load(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("a: &x {k: [1, 2]}\nb: *x\n")
    assert read_document(path) == {"a": {"k": [1, 2]}, "b": {"k": [1, 2]}}


def test_an_outcome_arriving_from_the_future_is_refused_but_a_stored_one_stays_readable() -> None:
    from contracts import OutcomeEvent
    from contracts.outcomes import ARRIVING

    body = {
        "event_id": "e",
        "change_id": "c",
        "target": "t",
        "status": "changed",
        "worker": "w",
        "started_at": "2036-01-01T00:00:00Z",
        "finished_at": "2036-01-01T00:00:01Z",
    }
    with pytest.raises(ValidationError, match="CLOCK_SKEW_S"):
        OutcomeEvent.model_validate(body, context={ARRIVING: True})
    assert OutcomeEvent.model_validate(body).finished_at.year == 2036
