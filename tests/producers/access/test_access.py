"""`provision access apply` on a real RabbitMQ: RabbitMQ itself reports exactly the table's
permissions, and answers ACCESS_REFUSED (403) to every role acting outside it.

Each attempt runs on a fresh channel with publisher confirms on: a refused publish (topic
permission or exchange) closes the channel with 403, which confirms make synchronous.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pika
import pika.exceptions
import pytest
import redis

from broker_config import topology
from broker_config.permissions import Role, agent, aggregator, controller, emitter, operator, worker
from producers.access.environment import role_environment
from tests.producers.access.conftest import AGENTS, AccessVhost

#: Slow (a matrix of connections refused by RabbitMQ, and the management API), so not in the quick
#: loop, `pytest -m "not slow"`.
pytestmark = pytest.mark.slow

Action = Callable[[Any], Any]


def table(applied: AccessVhost) -> dict[str, Role]:
    """user -> the role the table gives it."""
    roles = [controller(), aggregator(), operator(), worker("eu"), worker("us"), emitter("billing")]
    roles += [agent(t, region, env) for t, (region, env) in AGENTS.items()]
    return {role.user(applied.prefix): role for role in roles}


def test_rabbitmq_reports_exactly_the_tables_permissions(applied: AccessVhost) -> None:
    expected = table(applied)
    permissions = {p["user"]: p for p in applied.api.permissions(applied.vhost)}
    topics: dict[str, dict[str, tuple[str, str]]] = {}
    for t in applied.api.topic_permissions(applied.vhost):
        topics.setdefault(t["user"], {})[t["exchange"]] = (t["write"], t["read"])
    for user, role in expected.items():
        got = permissions[user]
        assert (got["configure"], got["write"], got["read"]) == tuple(role.permission), user
        assert topics[user] == {e: tuple(tp) for e, tp in role.topics.items()}, user
        tags = applied.api.user(user)["tags"]  # type: ignore[index]
        assert role.tag in (tags if isinstance(tags, list) else tags.split(",")), user
    ours = {u for u in permissions if u.startswith(f"{applied.prefix}-")}
    assert ours == set(expected)


def test_a_rerun_keeps_every_password_and_rotate_replaces_them(applied: AccessVhost) -> None:
    before = {p: p.read_text() for p in applied.out.iterdir()}
    again = applied.access("apply", "--out", str(applied.out), "--region=eu", "--json")
    assert again.returncode == 0, again.stderr
    assert {p: p.read_text() for p in applied.out.iterdir()} == before
    kept = json.loads(again.stdout.strip().splitlines()[-1])["users"]
    assert {u["user"]: (u["password"], u["redis"], u["database"]) for u in kept} == {
        applied.user("controller"): ("kept", "kept", "kept"),
        applied.user("aggregator"): ("kept", None, "kept"),
        applied.user("operator"): ("kept", None, "kept"),
        applied.user("worker", "eu"): ("kept", "kept", None),
    }
    passwords = {pw for text in before.values() for pw in re.findall(r"://[^:/]+:([^@]+)@", text)}
    assert len(passwords) >= 4 + 2 + 3
    for password in passwords:  # no secret is ever printed
        assert password not in again.stdout + again.stderr
    old = applied.url("worker", "eu")
    old_redis = role_environment(applied.out, applied.user("worker", "eu"))["PROVISION_REDIS_URL"]
    rotated = applied.access("apply", "--out", str(applied.out), "--region=eu", "--rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.count("rotated") == 4 + 2 + 3, rotated.stdout
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        pika.BlockingConnection(pika.URLParameters(old))
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(old_redis).ping()
    applied.urls.update(
        {p.stem: p.read_text().strip() for p in applied.out.iterdir() if p.suffix == ".url"}
    )


@contextmanager
def connected(url: str) -> Iterator[Any]:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        yield connection
    finally:
        if connection.is_open:
            connection.close()


def attempt(url: str, action: Action) -> int:
    """Run `action` on a fresh confirm channel: 0 when RabbitMQ took it, else its reply code."""
    with connected(url) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        try:
            action(channel)
        except pika.exceptions.ChannelClosedByBroker as exc:
            return int(exc.reply_code)
        return 0


def publish(exchange: str, key: str) -> Action:
    return lambda ch: ch.basic_publish(exchange, key, b"{}", pika.BasicProperties(delivery_mode=2))


def consume(queue: str) -> Action:
    return lambda ch: ch.basic_consume(queue, lambda *a: None)


def bind_all(queue: str, exchange: str) -> Action:
    return lambda ch: ch.queue_bind(queue, exchange, routing_key="#")


REFUSED = [
    # A region's worker: nothing of another region, no change request, no default exchange.
    ("worker", "eu", publish(topology.RESULTS_EXCHANGE, "us.prod.web-2"), "outcome for us"),
    ("worker", "eu", publish(topology.DEAD_EXCHANGE, "us.prod.web-2"), "dead letter for us"),
    ("worker", "eu", publish(topology.RETRIES_EXCHANGE, "us.prod.web-2"), "retry into us"),
    ("worker", "eu", consume(topology.region_queue("us")), "read the us queue"),
    ("worker", "eu", publish(topology.CHANGES_EXCHANGE, "eu.prod.web-1"), "change request"),
    ("worker", "eu", publish("", topology.region_queue("us")), "default exchange into us"),
    ("worker", "eu", publish("", topology.RESULTS_QUEUE), "default exchange into results"),
    ("worker", "eu", publish(topology.EVENTS_EXCHANGE, "eu"), "change event"),
    # An agent: only its own target's keys.
    ("agent", "web-1", publish(topology.RESULTS_EXCHANGE, "us.prod.web-2"), "outcome for web-2"),
    (
        "agent",
        "web-1",
        publish(topology.RESULTS_EXCHANGE, "eu.prod.web-2"),
        "outcome for web-2 in eu",
    ),
    (
        "agent",
        "web-1",
        publish(topology.RESULTS_EXCHANGE, "us.prod.web-1"),
        "outcome under another region",
    ),
    ("agent", "web-1", publish(topology.CHECKINS_EXCHANGE, "web-2"), "check-in as web-2"),
    ("agent", "web-1", publish(topology.CHANGES_EXCHANGE, "eu.prod.web-1"), "change request"),
    ("agent", "web-1", consume(topology.CHECKINS_QUEUE), "read check-ins"),
    # An emitter: only change events under its own name.
    ("emitter", "billing", publish(topology.CHANGES_EXCHANGE, "eu.prod.web-1"), "change request"),
    ("emitter", "billing", publish(topology.EVENTS_EXCHANGE, "apply"), "event as apply"),
    ("emitter", "billing", publish(topology.RESULTS_EXCHANGE, "eu.prod.web-1"), "outcome"),
    ("emitter", "billing", consume(topology.EVENTS_QUEUE), "read events"),
    # The operator: its own events and the dead letters, no change request.
    ("operator", None, publish(topology.CHANGES_EXCHANGE, "eu.prod.web-1"), "change request"),
    ("operator", None, publish(topology.EVENTS_EXCHANGE, "billing"), "event as billing"),
    ("aggregator", None, publish(topology.CHANGES_EXCHANGE, "eu.prod.web-1"), "change request"),
    ("aggregator", None, publish(topology.RESULTS_EXCHANGE, "eu.prod.web-1"), "outcome"),
    ("controller", None, publish(topology.RESULTS_EXCHANGE, "eu.prod.web-1"), "outcome"),
    ("controller", None, publish(topology.EVENTS_EXCHANGE, "apply"), "change event"),
]
# Nobody but the aggregator and the controller reads outcomes.
OUTCOME_READERS = {"aggregator", "controller"}
EVERY = [("controller", None), ("aggregator", None), ("operator", None), ("worker", "eu"),
         ("emitter", "billing"), ("agent", "web-1")]  # fmt: skip
REFUSED += [
    (role, instance, consume(queue), f"read {queue}")
    for role, instance in EVERY
    if role not in OUTCOME_READERS
    for queue in (topology.RESULTS_QUEUE, topology.ROLLOUTS_QUEUE)
]
# Nobody binds `#` (to see traffic that is not theirs) or declares a queue to bind.
OWN_QUEUE = {
    "worker": topology.region_queue("eu"),
    "controller": topology.EVENTS_QUEUE,
    "aggregator": topology.RESULTS_QUEUE,
}
REFUSED += [
    (
        role,
        instance,
        bind_all(OWN_QUEUE.get(role, topology.RESULTS_QUEUE), exchange),
        f"bind # {exchange}",
    )
    for role, instance in EVERY
    for exchange in (
        topology.CHANGES_EXCHANGE,
        topology.RESULTS_EXCHANGE,
        topology.CHECKINS_EXCHANGE,
    )
]
REFUSED += [
    (role, instance, lambda ch: ch.queue_declare("spy", exclusive=True), "declare a queue")
    for role, instance in EVERY
]


@pytest.mark.parametrize(
    ("role", "instance", "action", "what"),
    REFUSED,
    ids=[f"{r}{'-' + i if i else ''}: {w}" for r, i, _, w in REFUSED],
)
def test_rabbitmq_refuses_what_the_role_may_not_do(
    applied: AccessVhost, role: str, instance: str | None, action: Action, what: str
) -> None:
    assert attempt(applied.url(role, instance), action) == 403, what


ALLOWED = [
    ("worker", "eu", publish(topology.RESULTS_EXCHANGE, "eu.prod.web-1")),
    ("worker", "eu", publish(topology.DEAD_EXCHANGE, "eu.prod.web-1")),
    ("worker", "eu", publish(topology.RETRIES_EXCHANGE, "eu.prod.web-1")),
    ("worker", "eu", consume(topology.region_queue("eu"))),
    ("worker", "us", consume(topology.region_queue("us"))),
    ("agent", "web-1", publish(topology.RESULTS_EXCHANGE, "eu.prod.web-1")),
    ("agent", "web-1", publish(topology.CHECKINS_EXCHANGE, "web-1")),
    ("agent", "web-2", publish(topology.CHECKINS_EXCHANGE, "web-2")),
    ("emitter", "billing", publish(topology.EVENTS_EXCHANGE, "billing")),
    ("operator", None, publish(topology.EVENTS_EXCHANGE, "apply")),
    ("operator", None, lambda ch: ch.basic_get("provision.dead")),
    ("controller", None, publish(topology.CHANGES_EXCHANGE, "eu.prod.web-1")),
    ("controller", None, publish(topology.DEAD_EXCHANGE, "billing")),
    ("controller", None, consume(topology.ROLLOUTS_QUEUE)),
    ("controller", None, consume(topology.EVENTS_QUEUE)),
    ("controller", None, consume(topology.CHECKINS_QUEUE)),
    ("aggregator", None, consume(topology.RESULTS_QUEUE)),
]


@pytest.mark.parametrize(("role", "instance", "action"), ALLOWED)
def test_what_the_role_needs_is_allowed(
    applied: AccessVhost, role: str, instance: str | None, action: Action
) -> None:
    assert attempt(applied.url(role, instance), action) == 0


def test_show_lists_each_user_with_its_role_as_rabbitmq_reports_it(applied: AccessVhost) -> None:
    done = applied.access("show", "--json")
    assert done.returncode == 0, done.stderr
    shown = {u["user"]: u for u in json.loads(done.stdout)["users"]}
    for user, role in table(applied).items():
        assert shown[user]["role"] == role.name
        assert shown[user]["permissions"]["read"] == role.permission.read
        topics = {t["exchange"]: t["write"] for t in shown[user]["topic_permissions"]}
        assert topics == {e: t.write for e, t in role.topics.items()}


def test_revoke_deletes_the_user_and_bad_names_are_refused(applied: AccessVhost) -> None:
    out = str(applied.out)
    assert applied.access("apply", "--out", out, "--emitter=gone").returncode == 0
    user = f"{applied.prefix}-emitter-gone"
    url = (applied.out / f"{user}.url").read_text().strip()
    with connected(url):
        pass
    done = applied.access("revoke", user)
    assert done.returncode == 0 and applied.api.user(user) is None, done.stderr
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        pika.BlockingConnection(pika.URLParameters(url))
    again = applied.access("revoke", user)
    assert again.returncode == 2 and f"no user {user!r}" in again.stderr
    bad = applied.access("apply", "--out", out, "--region", "e.u")
    assert bad.returncode == 2 and "region 'e.u'" in bad.stderr
