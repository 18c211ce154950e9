"""Fault-injection harness: publish changes, break things, then count what happened.

`python -m bench.chaos --changes N --kills K --broker-restarts B --redis-restarts R
--redis-flushes F --postgres-restarts P --poison X [--json]` runs regional workers and the
aggregator on a vhost, a Redis database and a PostgreSQL database of its own, publishes N
change requests round-robin over local targets, plants X malformed messages, and meanwhile
SIGKILLs a worker (its main process or one pool child) K times, restarts RabbitMQ B times
(`rabbitmqctl stop_app && rabbitmqctl start_app`: every connection drops, durable queues and
persistent messages stay), Redis R times (`shutdown nosave` and a fresh `redis-server` with
no persistence: every key is gone), empties its Redis database F times (FLUSHDB) and
restarts PostgreSQL P times (bench/postgres.py). It waits for the queues to drain, then
counts from what the targets themselves hold, not from Redis:

- effects: every request's `effect` command appends its change id to the target's
  `effects.log` (guarded by `creates`, as a well-written command is). An id there twice is
  a duplicate effect. A second, unguarded command appends to `runs.log` on every engine
  run, so `engine_reruns` shows how often the engine ran a request again (a crash between
  apply and record); the guard keeps that to the crash windows.
- superseded: the target's journal says an older request met a newer one already applied.
- dead letters: read from `provision.dead` with their reasons.
- records_lost: records of the system of record (revisions, enrollments, a rollout, the
  outcomes) present before the first fault and missing or changed after, plus requests of
  the run that took effect without an outcome row (bench/chaos_records.py).

lost = published, never applied, not superseded and not dead-lettered. Exit 0 when lost,
records_lost, duplicate effects and healthy dead letters are all 0 and every poison message
is dead with its reason. RabbitMQ, Redis and PostgreSQL are left running whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pika
import pika.exceptions
import psutil
import redis

from bench import chaos_records, database, postgres
from bench.controller_key import controller_env, controller_key
from broker_config import CHANGES_EXCHANGE, RESULTS_QUEUE, declare, region_queue
from contracts import ChangeRequest, DesiredState, Target
from contracts.controller_signatures import sign_request
from producers.messaging.dlq import DeadLetters
from producers.messaging.publisher import Publisher, task_message
from producers.processes.commands import aggregator_argv, worker_argv
from producers.processes.supervisor import Supervisor, port_open

REGION = "chaos"
VHOST = "provision-chaos"
REDIS_DB = 13
ROOT = Path(__file__).resolve().parent.parent
#: How RabbitMQ is restarted; the README says so too.
BROKER_RESTART = "rabbitmqctl stop_app && rabbitmqctl start_app"
REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
]


def reachable(port: int) -> bool:
    return port_open(port, timeout_s=1)


def wait_for(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.1)


def ctl(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=timeout
    )


def redis_up() -> bool:
    try:
        return bool(redis.Redis(host="127.0.0.1", port=6379, socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def ensure_services() -> None:
    """Leave RabbitMQ, Redis and PostgreSQL running, whatever happened."""
    postgres.ensure()
    if not redis_up():
        subprocess.run(REDIS_START, capture_output=True, timeout=30)
        wait_for(redis_up, 30, "Redis")
    if not reachable(5672):
        ctl("start_app")
        wait_for(lambda: reachable(5672), 120, "RabbitMQ")


class Fleet:
    """Our worker and aggregator processes, restarted when a kill took the main process.

    Starting, logging and stopping are the one supervisor's; the kill and restart policy is
    the chaos run's own.
    """

    def __init__(self, env: dict[str, str], logs: Path, workers: int, concurrency: int) -> None:
        self.env = env
        self.children = Supervisor(logs, cwd=ROOT)
        self.concurrency = concurrency
        self.workers = [f"worker-{index}" for index in range(workers)]
        self.restarts = 0

    def start(self) -> None:
        for index in range(len(self.workers)):
            self._start_worker(index)
        self.children.start("aggregator", aggregator_argv(), self.env)
        for index, name in enumerate(self.workers):
            wait_for(lambda n=name: "ready." in self.log(n), 90, f"worker {index}")

    def _start_worker(self, index: int) -> None:
        argv = worker_argv(
            REGION, concurrency=self.concurrency, name=f"{REGION}-{index}@%h", loglevel="INFO"
        )
        self.children.start(self.workers[index], argv, self.env)

    def log(self, name: str) -> str:
        child = self.children.children.get(name)
        return child.text() if child is not None else ""

    def supervise(self) -> None:
        """Restart whatever died (a killed main process), like a service manager would."""
        for index, name in enumerate(self.workers):
            if not self.children.children[name].alive():
                self._start_worker(index)
                self.restarts += 1
        if not self.children.children["aggregator"].alive():
            self.children.start("aggregator", aggregator_argv(), self.env)
            self.restarts += 1

    def kill(self, rng: random.Random) -> str:
        """SIGKILL one worker's main process or one of its pool children."""
        proc = self.children.children[rng.choice(self.workers)].proc
        try:
            main = psutil.Process(proc.pid)
            children = main.children()
        except psutil.NoSuchProcess:
            return "none"
        if children and rng.random() < 0.5:
            victim = rng.choice(children)
            os.kill(victim.pid, signal.SIGKILL)
            return "child"
        os.kill(proc.pid, signal.SIGKILL)
        return "main"

    def stop(self) -> None:
        self.children.stop()


def restart_broker() -> float:
    started = time.monotonic()
    ctl("stop_app")
    ctl("start_app")
    wait_for(lambda: reachable(5672), 120, "RabbitMQ after restart")
    return time.monotonic() - started


def restart_redis() -> float:
    started = time.monotonic()
    subprocess.run(
        ["redis-cli", "-p", "6379", "shutdown", "nosave"], capture_output=True, timeout=30
    )
    wait_for(lambda: not reachable(6379), 30, "Redis to stop")
    subprocess.run(REDIS_START, capture_output=True, timeout=30)
    wait_for(redis_up, 30, "Redis after restart")
    return time.monotonic() - started


def effect_resources(change_id: str) -> list[dict[str, Any]]:
    """An effect guarded by `creates` (effects.log) and an unguarded run counter (runs.log)."""
    return [
        {"kind": "directory", "path": "/var/lib/effects", "mode": "0755"},
        {
            "kind": "command",
            "name": "effect",
            "argv": ['printf "%s\\n" "$C" >> effects.log && : > "var/lib/effects/$C"'],
            "shell": True,
            "creates": f"/var/lib/effects/{change_id}",
            "env": {"C": change_id},
        },
        {
            "kind": "command",
            "name": "run",
            "argv": ['printf "%s\\n" "$C" >> runs.log'],
            "shell": True,
            "env": {"C": change_id},
        },
    ]


def poison_message(kind: int, index: int, target: Target) -> tuple[dict[str, Any], bytes, str]:
    """(headers, body, content type) of malformed message number `index`, of `kind` 0-4."""
    pid = f"poison-{index:05d}"
    now = datetime.now(UTC)
    request = ChangeRequest(
        change_id=pid,
        target=target,
        desired=DesiredState(),
        issued_by="chaos",
        issued_at=now - timedelta(hours=2),
        expires_at=now + timedelta(hours=1),
    )
    headers, body = task_message(request)
    headers["id"] = pid
    if kind == 0:  # cannot be decoded
        return headers, b'[[], {"request": ', "application/json"
    args, kwargs, embed = json.loads(body)
    if kind == 1:  # breaks the contract
        kwargs["request"]["desired"] = {"resources": [{"kind": "teapot", "path": "/x"}]}
    elif kind == 2:  # expired
        kwargs["request"]["expires_at"] = (now - timedelta(hours=1)).isoformat()
    elif kind == 3:  # a task no worker knows
        headers["task"] = "provision.no-such-task"
    else:  # not a task message at all
        return {"id": pid}, b"\x00\x01 garbage", "application/octet-stream"
    # Signed as the controller would: each is refused for what it is, not for its signature.
    kwargs["request"]["signature"] = sign_request(controller_key(), kwargs["request"])
    return headers, json.dumps([args, kwargs, embed]).encode(), "application/json"


class Chaos:
    """One run of the harness."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.state = Path(args.state_dir or tempfile.mkdtemp(prefix="provision-chaos-"))
        self.broker_url = f"amqp://guest:guest@127.0.0.1:5672/{quote(args.vhost, safe='')}"
        self.env = {
            "PROVISION_BROKER_URL": self.broker_url,
            "PROVISION_REDIS_URL": f"redis://127.0.0.1:6379/{args.redis_db}",
            "PROVISION_RETRY_BASE_S": str(args.retry_base_s),
            "PROVISION_TRUSTED_SENDERS": "guest",  # every process is guest
            # The workers' allow rule, by the environment: the fleet's roots and nothing else.
            "PROVISION_WORKER_ALLOW": f"local://{self.state.resolve()}/targets/*",
            **controller_env(),
        }
        (self.state / "logs").mkdir(parents=True, exist_ok=True)
        self.fleet = Fleet(self.env, self.state / "logs", args.workers, args.concurrency)
        self.targets: list[Target] = []
        self.published: list[str] = []
        self.poison: list[str] = []
        self.faults: Counter[str] = Counter()
        self.database = database.name_of("chaos")
        self.before: chaos_records.Snapshot | None = None
        self.fault_seconds: list[float] = []
        self._done = threading.Event()
        self._errors: list[str] = []

    # -- set-up -------------------------------------------------------------------------

    def setup(self) -> None:
        ensure_services()
        ctl("delete_vhost", self.args.vhost)
        for args in (
            ["add_vhost", self.args.vhost],
            ["set_permissions", "-p", self.args.vhost, "guest", ".*", ".*", ".*"],
        ):
            done = ctl(*args)
            if done.returncode != 0:
                raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr.strip()}")
        redis.Redis(host="127.0.0.1", port=6379, db=self.args.redis_db).flushdb()
        database.remove_stale()
        self.env["PROVISION_DATABASE_URL"] = database.create(self.database)  # the fleet's env
        connection = self._connect()
        declare(connection, [REGION])
        connection.close()
        count = self.args.targets or max(1, self.args.changes // 10)
        for index in range(count):
            root = self.state / "targets" / f"t-{index:04d}"
            root.mkdir(parents=True, exist_ok=True)
            self.targets.append(
                Target(
                    id=f"t-{index:04d}",
                    region=REGION,
                    environment="chaos",
                    address=f"local://{root}",
                )
            )
        chaos_records.seed(self.env["PROVISION_DATABASE_URL"], self.targets, tag=self.database)
        self.fleet.start()

    def _connect(self) -> Any:
        params = pika.URLParameters(self.broker_url)
        params.socket_timeout = 3
        params.blocked_connection_timeout = 30
        params.heartbeat = 30
        return pika.BlockingConnection(params)

    # -- publishing ---------------------------------------------------------------------

    def publish(self) -> None:
        """Every request and the poison, interleaved; an unconfirmed publish is repeated."""
        total = self.args.changes + self.args.poison
        poison_at = set(self.rng.sample(range(total), self.args.poison))
        now = datetime.now(UTC)
        connection: Any = None
        for slot in range(total):
            if slot in poison_at:
                index = len(self.poison)
                target = self.targets[index % len(self.targets)]
                message = poison_message(index % 5, index, target)
                connection = self._deliver(
                    connection, lambda c, m=message, t=target: self._raw(c, m, t)
                )
                self.poison.append(str(message[0]["id"]))
                continue
            index = len(self.published)
            target = self.targets[index % len(self.targets)]
            change_id = f"chaos-{index:06d}"
            request = ChangeRequest(
                change_id=change_id,
                target=target,
                desired=DesiredState.model_validate({"resources": effect_resources(change_id)}),
                issued_by="chaos",
                issued_at=now,
                expires_at=now + timedelta(hours=1),
                sequence=index + 1,
            )
            connection = self._deliver(
                connection, lambda c, r=request: Publisher(c, controller_key()).publish(r)
            )
            self.published.append(change_id)
        if connection is not None and connection.is_open:
            connection.close()

    def _deliver(self, connection: Any, send: Any) -> Any:
        """Send once, confirmed; on a broker hiccup reconnect and send again (same ids)."""
        for _ in range(600):
            try:
                if connection is None or not connection.is_open:
                    connection = self._connect()
                send(connection)
                return connection
            except (pika.exceptions.AMQPError, OSError):
                connection = None
                time.sleep(0.5)
        raise RuntimeError("could not publish for 5 minutes")

    @staticmethod
    def _raw(connection: Any, message: tuple[dict[str, Any], bytes, str], target: Target) -> None:
        headers, body, content_type = message
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            CHANGES_EXCHANGE,
            target.routing_key,
            body,
            pika.BasicProperties(
                content_type=content_type,
                correlation_id=headers["id"],
                delivery_mode=pika.DeliveryMode.Persistent,
                headers=headers,
            ),
            mandatory=True,
        )
        channel.close()

    # -- faults -------------------------------------------------------------------------

    def ready_count(self) -> int | None:
        """Messages ready in the region queue, or None while the broker is away."""
        try:
            connection = self._connect()
        except (pika.exceptions.AMQPError, OSError):
            return None
        try:
            channel = connection.channel()
            return int(
                channel.queue_declare(region_queue(REGION), passive=True).method.message_count
            )
        except (pika.exceptions.AMQPError, OSError):
            return None
        finally:
            if connection.is_open:
                connection.close()

    def inject(self) -> None:
        """Fire each fault when the backlog has shrunk to a random point of the run."""
        faults = (
            ["kill"] * self.args.kills
            + ["broker"] * self.args.broker_restarts
            + ["redis"] * self.args.redis_restarts
            + ["flush"] * self.args.redis_flushes
            + ["postgres"] * self.args.postgres_restarts
        )
        self.rng.shuffle(faults)
        points = sorted((self.rng.uniform(0.05, 0.8) for _ in faults), reverse=True)
        total = self.args.changes + self.args.poison
        try:
            for fault, point in zip(faults, points, strict=True):
                while not self._done.is_set():
                    self.fleet.supervise()
                    ready = self.ready_count()
                    if (
                        ready is not None
                        and len(self.published) >= self.args.changes / 2
                        and ready <= total * point
                    ):
                        break
                    time.sleep(0.2)
                if self._done.is_set():
                    return
                if self.before is None:
                    self.before = chaos_records.snapshot(self.env["PROVISION_DATABASE_URL"])
                started = time.monotonic()
                if fault == "kill":
                    self.faults[f"kill_{self.fleet.kill(self.rng)}"] += 1
                elif fault == "broker":
                    restart_broker()
                elif fault == "redis":
                    restart_redis()
                elif fault == "flush":
                    redis.Redis(host="127.0.0.1", port=6379, db=self.args.redis_db).flushdb()
                elif fault == "postgres":
                    postgres.restart()
                self.faults[fault] += 1
                self.fault_seconds.append(time.monotonic() - started)
                time.sleep(self.rng.uniform(0.5, 1.5))
        except Exception as exc:  # reported, and the run still settles and counts
            self._errors.append(f"fault injection: {type(exc).__name__}: {exc}")
            ensure_services()

    # -- settling and counting ----------------------------------------------------------

    def backlog(self) -> int | None:
        """Ready plus unacked messages (retries waiting in workers count) of the region queue
        and of the results queue (outcomes not yet recorded), via rabbitmqctl."""
        done = ctl("list_queues", "-p", self.args.vhost, "name", "messages", timeout=60)
        if done.returncode != 0:
            return None
        found = {}
        for line in done.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] in (region_queue(REGION), RESULTS_QUEUE):
                found[parts[0]] = int(parts[1])
        return sum(found.values()) if len(found) == 2 else None

    def settle(self, timeout_s: float) -> bool:
        """Wait until the backlog stays empty for a few seconds; True when it did."""
        deadline = time.monotonic() + timeout_s
        quiet = 0
        while time.monotonic() < deadline:
            self.fleet.supervise()
            backlog = self.backlog()
            quiet = quiet + 1 if backlog == 0 else 0
            if quiet >= 3:
                return True
            time.sleep(1.0)
        return False

    def count(self) -> dict[str, Any]:
        effects: Counter[str] = Counter()
        runs: Counter[str] = Counter()
        journal: dict[str, str] = {}
        for target in self.targets:
            root = Path(target.address.removeprefix("local://"))
            for name, counter in (("effects.log", effects), ("runs.log", runs)):
                path = root / name
                if path.exists():
                    counter.update(line for line in path.read_text().splitlines() if line)
            done = root / "var/lib/provision/done"
            if done.is_dir():
                for path in done.glob("chaos-*.json"):
                    journal[path.stem] = json.loads(path.read_text())["status"]
        connection = self._connect()
        try:
            letters = DeadLetters(connection).entries()
        finally:
            connection.close()
        poison = set(self.poison)
        dead_poison = {letter.id: letter for letter in letters if letter.id in poison}
        dead_healthy = {
            str(letter.change[0])
            for letter in letters
            if str(letter.change[0]).startswith("chaos-")
        }
        applied = {c for c in self.published if effects[c] > 0}
        superseded = {c for c in self.published if journal.get(c) == "superseded"}
        lost = [c for c in self.published if c not in applied | superseded | dead_healthy]
        return self.records(applied | superseded) | {
            "published": len(self.published),
            "applied": len(applied),
            "superseded": len(superseded),
            # Killed after its effect but before its record, then met a newer request on
            # the redelivery: the effect happened once and the outcome says superseded.
            "applied_then_superseded": len(applied & superseded),
            "lost": len(lost),
            "lost_ids": lost[:20],
            "duplicate_effects": sum(n - 1 for n in effects.values() if n > 1),
            "engine_reruns": sum(n - 1 for n in runs.values() if n > 1),
            "failed": sum(1 for c in self.published if journal.get(c) == "failed"),
            "dead_lettered": len(letters),
            "dead_lettered_healthy": len(dead_healthy),
            "poison_planted": len(poison),
            "poison_dead_lettered": len(dead_poison),
            "poison_with_reason": sum(1 for letter in dead_poison.values() if letter.reason),
            "poison_reasons": sorted(
                {letter.reason.split(":")[0][:60] for letter in dead_poison.values()}
            ),
        }

    def records(self, took_effect: set[str]) -> dict[str, Any]:
        """records_lost: what PostgreSQL held before the faults, and every outcome of the run."""
        url = self.env["PROVISION_DATABASE_URL"]
        before = self.before or {}
        after = chaos_records.snapshot(url)
        changed = chaos_records.lost(before, after)
        unrecorded = chaos_records.unrecorded(
            [c for c in self.published if c in took_effect], chaos_records.outcome_changes(url)
        )
        return {
            "records_lost": sum(len(ids) for ids in changed.values()) + len(unrecorded),
            "records_lost_ids": {kind: ids[:10] for kind, ids in changed.items() if ids},
            "records_checked": {kind: len(records) for kind, records in before.items()},
            "outcomes_unrecorded": len(unrecorded),
            "outcomes_unrecorded_ids": unrecorded[:20],
        }

    # -- the run ------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        try:
            self.setup()
            injector = threading.Thread(target=self.inject, name="faults", daemon=True)
            injector.start()
            self.publish()
            injector.join(timeout=self.args.timeout)
            self._done.set()
            if self.before is None:  # no fault fired: compare from the end of publishing
                self.before = chaos_records.snapshot(self.env["PROVISION_DATABASE_URL"])
            ensure_services()
            settled = self.settle(self.args.timeout)
            result = self.count()
        finally:
            self._done.set()
            self.fleet.stop()
            ensure_services()
        result.update(
            {
                "settled": settled,
                "seconds": round(time.monotonic() - started, 1),
                "targets": len(self.targets),
                "kills": self.faults["kill"],
                "kills_main": self.faults["kill_main"],
                "kills_child": self.faults["kill_child"],
                "broker_restarts": self.faults["broker"],
                "redis_restarts": self.faults["redis"],
                "redis_flushes": self.faults["flush"],
                "postgres_restarts": self.faults["postgres"],
                "postgres_restart_method": postgres.POSTGRES_RESTART,
                "database": self.database,
                "fault_seconds_max": round(max(self.fault_seconds, default=0.0), 1),
                "process_restarts": self.fleet.restarts,
                "broker_restart_method": BROKER_RESTART,
                "errors": self._errors,
                "seed": self.args.seed,
                "state_dir": str(self.state),
            }
        )
        result["ok"] = bool(
            settled
            and result["lost"] == 0
            and result["records_lost"] == 0
            and result["duplicate_effects"] == 0
            and result["dead_lettered_healthy"] == 0
            and result["poison_with_reason"] == result["poison_planted"]
        )
        if not self.args.keep:
            ctl("delete_vhost", self.args.vhost)
            if result["ok"]:  # else kept for a post-mortem; the next run drops it
                database.drop(self.database)
            if self.args.state_dir is None and result["ok"]:
                shutil.rmtree(self.state, ignore_errors=True)
        return result


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--changes", type=int, default=500, help="Change requests to publish.")
    parser.add_argument(
        "--targets", type=int, default=0, help="Local targets (default changes/10)."
    )
    parser.add_argument("--poison", type=int, default=10, help="Malformed messages to plant.")
    parser.add_argument("--kills", type=int, default=2, help="Worker SIGKILLs.")
    parser.add_argument("--broker-restarts", type=int, default=1)
    parser.add_argument("--redis-restarts", type=int, default=0)
    parser.add_argument(
        "--redis-flushes", type=int, default=0, help="FLUSHDB of the run's Redis database."
    )
    parser.add_argument(
        "--postgres-restarts", type=int, default=0, help="PostgreSQL restarts (pg_ctlcluster)."
    )
    parser.add_argument("--workers", type=int, default=2, help="Worker processes (main).")
    parser.add_argument("--concurrency", type=int, default=2, help="Pool children per worker.")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=900.0, help="Seconds to wait to settle.")
    parser.add_argument("--retry-base-s", type=float, default=0.5, help="Backoff base of retries.")
    parser.add_argument("--vhost", default=VHOST)
    parser.add_argument("--redis-db", type=int, default=REDIS_DB)
    parser.add_argument("--state-dir", default=None, help="Where targets and logs go.")
    parser.add_argument(
        "--keep", action="store_true", help="Keep the vhost, the database and the state dir."
    )
    parser.add_argument("--json", action="store_true", help="Print one JSON object last.")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(2**31)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    result = Chaos(args).run()
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
