"""One corpus run: sandbox, pipeline, agent user, canary; every input sent and judged."""

from __future__ import annotations

import contextlib
import logging
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pika

from bench.hostile import corpus, report
from bench.hostile.broker import BrokerJudge
from bench.hostile.canary import Canary
from bench.hostile.commands import CommandJudge
from bench.hostile.model import AGENT, WORKER, Ctx, EntryPoint, Result, Verdict
from bench.hostile.services import Services, agent_user, role_user
from bench.processes import supervisor
from bench.sandbox import Sandbox, sandbox
from broker_config import (
    CHECKINS_QUEUE,
    EVENTS_QUEUE,
    RESULTS_QUEUE,
    declare,
    region_queue,
)
from broker_config.permissions import agent, worker
from contracts.signatures import load_private_key
from producers.store.database import Database

log = logging.getLogger("bench")

#: The queue whose consumer takes an input, from its entry point and routing key.
QUEUE = {
    EntryPoint.EVENTS: lambda key: EVENTS_QUEUE,
    EntryPoint.CHECKINS: lambda key: CHECKINS_QUEUE,
    EntryPoint.RESULTS: lambda key: RESULTS_QUEUE,
    EntryPoint.REGION: lambda key: region_queue(key.split(".")[0]),
}


@dataclass(frozen=True)
class Mode:
    """Sizes of one run."""

    name: str
    per_class: int | None  # None: every class's full count
    regions: tuple[str, ...]
    silent_s: float  # how long a broker input may go without a verdict
    command_timeout_s: float
    canary_every_s: float
    canary_wait_s: float


FULL = Mode("full", None, ("eu", "us"), 2.0, 10.0, 5.0, 120.0)
QUICK = Mode("quick", 3, ("eu",), 1.5, 8.0, 3.0, 60.0)
#: The test suite's small version: one input per class.
TINY = Mode("tiny", 1, ("eu",), 1.0, 4.0, 2.0, 45.0)


def redis_bytes(box: Sandbox) -> int:
    client = box.redis()
    total = 0
    for key in client.scan_iter(count=1000):
        total += int(client.memory_usage(key, samples=0) or 0)
    return total


def run(
    mode: Mode, redis_db: int, logs: Path | None = None, details: Path | None = None
) -> tuple[list[Result], dict[str, object]]:
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hostile-")))
        ctx = Ctx(mode.regions, scratch / "targets", quick=mode.per_class is not None)
        for home in ("victim", "truth-1"):  # so an accepted change is applied, not failed
            (ctx.victim_root / home).mkdir(parents=True)
        classes = corpus.classes()
        total = sum(corpus.count(spec, mode.per_class) for spec in classes)
        log.info("hostile: %d inputs in %d classes", total, len(classes))
        box = stack.enter_context(sandbox("hostile", redis_db))
        connection = pika.BlockingConnection(pika.URLParameters(box.broker_url))
        declare(connection, mode.regions)
        connection.close()
        children = stack.enter_context(supervisor(logs or scratch / "logs"))
        # The workers serve the victim's roots and the canary's, nothing else (issue 14).
        allow = [f"local://{ctx.victim_root.resolve()}/*", f"local://{scratch.resolve()}/canary"]
        # Role users are global in RabbitMQ: a prefix of this run's own, which the
        # aggregator and the controller use to tell a worker or an agent by its name.
        prefix = f"hostile-{secrets.token_hex(4)}"
        services = Services(children, box, mode.regions, allow, {"PROVISION_ACCESS_PREFIX": prefix})
        services.start()
        urls = {
            "agent": stack.enter_context(agent_user(box)),
            AGENT: stack.enter_context(
                role_user(box, agent("victim", mode.regions[0], "bench"), prefix)
            ),
            WORKER: stack.enter_context(role_user(box, worker(mode.regions[0]), prefix)),
        }
        client = box.redis()
        before = redis_bytes(box)
        brokers = BrokerJudge(box.broker_url, urls, client, services)
        stack.callback(brokers.close)
        commands = CommandJudge(box.env, scratch, mode.command_timeout_s)
        key = load_private_key(box.signing_key)
        brokers.signing_key = key
        canary = Canary(box.broker_url, mode.regions[0], scratch, mode.canary_every_s, key)
        sampling = threading.Event()
        sampler = threading.Thread(target=_sample, args=(services, sampling), daemon=True)
        sampler.start()
        canary.start()
        results: list[Result] = []
        for item in corpus.inputs(ctx, mode.per_class):
            late = services.dead()  # died after the previous verdict: that input's doing
            if late:
                if results and results[-1].verdict != Verdict.CRASHED:
                    results[-1].verdict = Verdict.CRASHED
                    results[-1].detail = f"{', '.join(late)} exited after: {results[-1].detail}"
                services.restart(late)
            if not results or results[-1].input.cls != item.cls:
                log.info("hostile: %s (%d of %d inputs sent)", item.cls, len(results), total)
            if item.entry.broker and results and results[-1].verdict != Verdict.REFUSED:
                services.wait_consuming(QUEUE[item.entry](item.routing_key))
            started = time.monotonic()
            if item.entry.broker:
                verdict, detail = brokers.send(item, mode.silent_s)
            else:
                verdict, detail = commands.run(item)
            dead = services.dead()
            if dead:
                if verdict != Verdict.CRASHED:
                    verdict, detail = Verdict.CRASHED, f"{', '.join(dead)} exited ({detail})"
                log.info("hostile: %s crashed %s; restarting", item.cls, ", ".join(dead))
                services.restart(dead)
            results.append(Result(item, verdict, detail, time.monotonic() - started))
            if details is not None:  # as it goes: an interrupted run keeps what it judged
                with open(details, "a") as handle:
                    handle.write(report.details(results[-1:]))
        canary.stop()
        applied = _wait_canaries(canary, brokers.db, services, mode.canary_wait_s)
        sampling.set()
        rss = {**services.max_rss_mb, "cli": commands.max_rss_mb}
        extra = {
            "canaries_sent": len(canary.sent),
            "canaries_applied": applied,
            "redis_growth_bytes": redis_bytes(box) - before,
            "max_rss_mb": {name: round(mb, 1) for name, mb in rss.items()},
            "restarts": services.restarts,
            "mode": mode.name,
        }
        return results, extra
    raise AssertionError("unreachable")


def _sample(services: Services, done: threading.Event) -> None:
    while not done.wait(0.5):
        services.sample()


def _wait_canaries(canary: Canary, db: Database, services: Services, timeout_s: float) -> int:
    """Wait for every canary to converge (restarting what crashes meanwhile), bounded."""
    deadline = time.monotonic() + timeout_s
    applied = canary.applied(db)
    while applied < len(canary.sent) and time.monotonic() < deadline:
        if services.dead():
            services.restart(services.dead())
        time.sleep(0.2)
        applied = canary.applied(db)
    return applied
