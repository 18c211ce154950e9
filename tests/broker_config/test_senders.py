"""The sender rule, pure: who may speak for a target's outcomes, and the user a URL or a
connection speaks as."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker_config.endpoints import BrokerUrlFileError, Endpoints, broker_user
from broker_config.senders import Senders, trusted_from_env

RULE = Senders("provision", frozenset({"dev"}))


@pytest.mark.parametrize(
    ("user", "target", "region"),
    [
        ("provision-worker-eu", "web-1", "eu"),  # the worker of the target's region
        ("provision-agent-web-1", "web-1", None),  # the target's own agent, region unknown
        ("provision-agent-web-1", "web-1", "us"),
        ("dev", "anything", None),  # a trusted sender speaks for every target
    ],
)
def test_who_may_speak_for_a_target(user: str, target: str, region: str | None) -> None:
    assert RULE.refusal(user, target, region) is None


@pytest.mark.parametrize(
    ("user", "target", "region", "why"),
    [
        (None, "web-1", "eu", "no user_id"),
        ("", "web-1", "eu", "no user_id"),
        (42, "web-1", "eu", "no user_id"),
        ("provision-worker-eu", "web-2", "us", "is the worker of region 'eu'"),
        ("provision-worker-eu", "web-2", None, "has no known region"),
        ("provision-agent-web-1", "web-2", "eu", "is the agent of target 'web-1'"),
        ("provision-emitter-billing", "web-1", "eu", "the emitter user"),
        ("provision-controller", "web-1", "eu", "the controller user"),
        ("guest", "web-1", "eu", "user 'guest' may not speak"),
        ("other-worker-eu", "web-1", "eu", "may not speak"),  # another prefix's worker
        ("provision-worker-eu-x", "web-1", "eu", "is the worker of region 'eu-x'"),
    ],
)
def test_everyone_else_is_refused_with_the_reason(
    user: object, target: str, region: str | None, why: str
) -> None:
    reason = RULE.refusal(user, target, region)
    assert reason is not None and why in reason, reason


def test_only_a_worker_user_needs_the_targets_region() -> None:
    assert RULE.needs_region("provision-worker-eu")
    assert not RULE.needs_region("provision-agent-web-1")
    assert not RULE.needs_region("dev") and not RULE.needs_region(None)


def test_a_hostile_name_is_shown_bounded() -> None:
    reason = RULE.refusal("x" * 300, "t" * 300, "eu")
    assert reason is not None and len(reason) < 400


def test_the_trust_list_and_prefix_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROVISION_TRUSTED_SENDERS", " guest, ,dev ")
    monkeypatch.setenv("PROVISION_ACCESS_PREFIX", "acme")
    assert trusted_from_env() == {"guest", "dev"}
    senders = Senders.from_env(["ops"])
    assert senders.trusted == {"guest", "dev", "ops"} and senders.prefix == "acme"
    assert senders.refusal("acme-worker-eu", "web-1", "eu") is None
    monkeypatch.delenv("PROVISION_TRUSTED_SENDERS")
    monkeypatch.delenv("PROVISION_ACCESS_PREFIX")
    assert Senders.from_env() == Senders("provision", frozenset())


def test_a_url_speaks_as_its_user_and_guest_when_it_names_none() -> None:
    assert broker_user("amqp://provision-worker-eu:pw@rabbit:5672/%2F") == "provision-worker-eu"
    assert broker_user("amqp://a%40b:pw@rabbit/v") == "a@b"
    assert broker_user("amqp://rabbit:5672/%2F") == "guest"
    assert Endpoints("amqps://op:pw@h/v").broker_user == "op"


def test_the_broker_url_may_come_from_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "provision-worker-eu.url"
    path.write_text("amqp://provision-worker-eu:pw@rabbitmq:5672/%2F\n")
    monkeypatch.delenv("PROVISION_BROKER_URL", raising=False)
    monkeypatch.setenv("PROVISION_BROKER_URL_FILE", str(path))
    assert Endpoints.from_env().broker_user == "provision-worker-eu"
    monkeypatch.setenv("PROVISION_BROKER_URL", "amqp://guest:guest@127.0.0.1/%2F")
    with pytest.raises(BrokerUrlFileError, match="not both"):
        Endpoints.from_env()
    monkeypatch.delenv("PROVISION_BROKER_URL")
    path.write_text("not a url\n")
    with pytest.raises(BrokerUrlFileError, match="not an amqp"):
        Endpoints.from_env()
    monkeypatch.setenv("PROVISION_BROKER_URL_FILE", str(path) + ".missing")
    with pytest.raises(BrokerUrlFileError, match="cannot read it"):
        Endpoints.from_env()
