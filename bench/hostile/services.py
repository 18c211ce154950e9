"""The pipeline under attack: controller, aggregator and a worker per region, supervised.

A process that exits is a crash. It is restarted the way a service manager would, after
the hostile messages still queued for it are taken out (they would kill it again: that
restart loop is measured once, not for the rest of the run); anything else queued, such
as a canary, is put back.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pika
import pika.exceptions

from bench.errors import BenchError
from bench.pipeline import worker_argv
from bench.processes import rss_mb
from bench.sandbox import Sandbox, _ctl
from broker_config import CHECKINS_QUEUE, EVENTS_QUEUE, RESULTS_QUEUE, ROLLOUTS_QUEUE, region_queue
from broker_config.permissions import PERMISSIONS, Role
from producers.processes import commands
from producers.processes.supervisor import Child, Supervisor

#: Header put on every hostile message, so a dead letter (or a leftover) names its input.
HOSTILE = "x-hostile-id"
READY_TIMEOUT_S = 120.0


class Services:
    """Starts, watches and restarts the consumers; keeps each one's largest RSS."""

    def __init__(
        self,
        children: Supervisor,
        box: Sandbox,
        regions: tuple[str, ...],
        allow: list[str],
        env: dict[str, str] | None = None,
    ) -> None:
        self.children = children
        self.box = box
        #: The processes' environment: the sandbox's, and the role users' prefix.
        self.env = {**box.env, **(env or {})}
        self.argv: dict[str, list[str]] = {
            **{f"worker-{r}": worker_argv(r, 2, allow) for r in regions},
            "aggregator": commands.aggregator_argv(),
            "controller": commands.controller_argv(),
        }
        self.queues: dict[str, list[str]] = {
            **{f"worker-{r}": [region_queue(r)] for r in regions},
            "aggregator": [RESULTS_QUEUE],
            "controller": [EVENTS_QUEUE, CHECKINS_QUEUE, ROLLOUTS_QUEUE],
        }
        self.procs: dict[str, Child] = {}
        self.max_rss_mb: dict[str, float] = {}
        self.restarts = 0

    def start(self) -> None:
        for name in self.argv:  # workers first: the controller checks their queues exist
            self.procs[name] = self.children.start(name, self.argv[name], self.env)
            self._wait_ready(name)

    def dead(self) -> list[str]:
        return [name for name, child in self.procs.items() if not child.alive()]

    def restart(self, names: list[str]) -> int:
        """Restart crashed processes; return how many hostile messages were taken out."""
        removed = 0
        for name in names:
            self.procs[name].stop()
            for queue in self.queues[name]:
                removed += drain(self.box.broker_url, queue)
            self.procs[name] = self.children.start(name, self.argv[name], self.env)
            self.restarts += 1
            self._wait_ready(name)
        return removed

    def sample(self) -> None:
        """Note each process's RSS (its pool children included), keeping the largest."""
        for name, child in list(self.procs.items()):
            with contextlib.suppress(Exception):
                rss = rss_mb(child)
                self.max_rss_mb[name] = max(self.max_rss_mb.get(name, 0.0), rss)

    def wait_consuming(self, queue: str, timeout_s: float = 20.0) -> None:
        """Until `queue` has a consumer again (a process reconnecting after an input), bounded:
        an input sent meanwhile would be judged on the previous one's aftermath."""
        deadline = time.monotonic() + timeout_s
        while consumers(self.box.broker_url, queue) == 0 and time.monotonic() < deadline:
            if self.dead():
                return
            time.sleep(0.1)

    def _wait_ready(self, name: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        queue = self.queues[name][0]
        while consumers(self.box.broker_url, queue) == 0:
            child = self.procs[name]
            if not child.alive():
                raise BenchError(f"{name} exited while starting:\n{child.tail()}")
            if time.monotonic() > deadline:
                raise BenchError(f"{name}: no consumer on {queue} after {READY_TIMEOUT_S:g}s")
            time.sleep(0.1)


def consumers(url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.consumer_count)
    except pika.exceptions.ChannelClosedByBroker:
        return 0
    finally:
        if connection.is_open:
            connection.close()


def drain(url: str, queue: str) -> int:
    """Take the hostile messages out of `queue`; put every other one back at its tail."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    removed = 0
    try:
        channel: Any = connection.channel()
        count = channel.queue_declare(queue, passive=True).method.message_count
        for _ in range(count):
            method, props, body = channel.basic_get(queue)
            if method is None:
                break
            if HOSTILE not in (props.headers or {}):
                channel.basic_publish("", queue, body, props)
            else:
                removed += 1
            channel.basic_ack(method.delivery_tag)
    finally:
        if connection.is_open:
            connection.close()
    return removed


@contextlib.contextmanager
def role_user(box: Sandbox, role: Role, prefix: str) -> Iterator[str]:
    """A RabbitMQ user named and entitled as `role` (its permissions AND its topic
    permissions, exactly the table's), on the sandbox's vhost; its broker URL."""
    name, password = role.user(prefix), secrets.token_hex(16)
    _ctl("add_user", name, password)
    try:
        _ctl("set_permissions", "-p", box.vhost, name, *role.permission.argv())
        for exchange, topic in sorted(role.topics.items()):
            _ctl("set_topic_permissions", "-p", box.vhost, name, exchange, *topic)
        root, _, vhost = box.broker_url.rpartition("/")
        host = root.split("@", 1)[1]
        yield f"amqp://{name}:{password}@{host}/{vhost}"
    finally:
        _ctl("delete_user", name, check=False)


@contextlib.contextmanager
def agent_user(box: Sandbox) -> Iterator[str]:
    """A RabbitMQ user with exactly the `agent` role of broker_config.permissions."""
    name = f"hostile-agent-{secrets.token_hex(4)}"
    password = secrets.token_hex(16)
    _ctl("add_user", name, password)
    try:
        _ctl("set_permissions", "-p", box.vhost, name, *PERMISSIONS["agent"].argv())
        root, _, vhost = box.broker_url.rpartition("/")
        host = root.split("@", 1)[1]
        yield f"amqp://{name}:{password}@{host}/{vhost}"
    finally:
        _ctl("delete_user", name, check=False)
