"""The role table as data: names, the naming convention, and refusals of bad instances."""

from __future__ import annotations

import re

import pytest

from broker_config.permissions import (
    NO_KEY,
    PERMISSIONS,
    TOPIC_EXCHANGES,
    agent,
    controller,
    emitter,
    role_of,
    roles,
    worker,
)
from contracts import ProvisioningError


def test_user_names_follow_the_documented_convention() -> None:
    assert controller().user() == "provision-controller"
    assert worker("eu").user() == "provision-worker-eu"
    assert emitter("billing").user("acme") == "acme-emitter-billing"
    assert agent("web-1").user() == "provision-agent-web-1"
    assert [r.user() for r in roles(["us", "eu", "eu"], ["billing"])] == [
        "provision-controller",
        "provision-aggregator",
        "provision-operator",
        "provision-worker-eu",
        "provision-worker-us",
        "provision-emitter-billing",
    ]


def test_every_role_has_a_topic_permission_on_every_topic_exchange_and_binds_nothing() -> None:
    for role in [*roles(["eu"], ["billing"]), agent("web-1")]:
        assert set(role.topics) == set(TOPIC_EXCHANGES), role.name
        assert all(t.read == NO_KEY for t in role.topics.values()), role.name
        assert role.permission.configure == "^$", role.name


def test_routing_key_patterns_give_exactly_the_own_keys() -> None:
    results = worker("eu").topics["provision.results"].write
    assert re.fullmatch(results, "eu.prod.web-1") and re.fullmatch(results, "eu")
    assert not re.search(results, "us.prod.web-1") and not re.search(results, "europe.x")
    own = agent("web-1", "eu", "prod").topics["provision.results"].write
    assert re.search(own, "eu.prod.web-1")
    assert not re.search(own, "eu.prod.web-10") and not re.search(own, "us.prod.web-1")
    assert re.search(agent("web-1").topics["provision.results"].write, "us.dev.web-1")
    assert not re.search(NO_KEY, "") and not re.search(NO_KEY, "anything")


@pytest.mark.parametrize("bad", ["", "eu.west", "a" * 64, "-x", "*", "#"])
def test_an_instance_that_is_not_a_routing_key_word_is_refused_with_the_field(bad: str) -> None:
    with pytest.raises(ProvisioningError, match="region"):
        worker(bad)
    with pytest.raises(ProvisioningError, match="target"):
        agent(bad)


def test_the_role_is_read_from_tags_else_from_the_name() -> None:
    assert role_of("anything", ["provision-worker"]) == "worker"
    assert role_of("provision-agent-web-1") == "agent"
    assert role_of("acme-controller", prefix="acme") == "controller"
    assert role_of("guest", ["administrator"]) == ""
    assert PERMISSIONS["agent"] == agent("x").permission
