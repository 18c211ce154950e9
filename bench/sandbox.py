"""A benchmark's own RabbitMQ vhost, Redis database and PostgreSQL database, made fresh
and removed after.

Nothing of a user's is touched: never the default vhost, never Redis database 0, never the
PostgreSQL database `provisioning`. Vhosts are named `bench-<name>-<pid>` and databases
`provisioning_bench_<name>_<pid>` (bench/database.py), so one left by a killed run is
recognised and removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psutil
import redis

from bench import database
from bench.controller_key import controller_env
from bench.errors import BenchError
from producers.store.database import Database

#: The RabbitMQ server the benchmarks use; the vhost is added to it.
AMQP_ROOT = os.environ.get("BENCH_AMQP_ROOT", "amqp://guest:guest@127.0.0.1:5672")
REDIS_ROOT = os.environ.get("BENCH_REDIS_ROOT", "redis://127.0.0.1:6379")
#: The Redis database of the benchmarks, unless --redis-db says otherwise (tests use 12-15).
DEFAULT_REDIS_DB = 11
USER = "guest"
#: The issuer the benchmarks sign change events as (registered in each sandbox's database).
OPERATOR = "bench-operator"

log = logging.getLogger("bench")

_OURS = re.compile(r"^bench-[a-z]+-(\d+)$")


@dataclass(frozen=True)
class Sandbox:
    """Where one benchmark's processes talk: URLs, and the env that points ours at them."""

    vhost: str
    broker_url: str
    redis_url: str
    redis_db: int
    database_url: str
    #: The operator's private key file (0600), registered in the sandbox's database.
    signing_key: str = ""

    @property
    def env(self) -> dict[str, str]:
        from producers.processes.commands import signing_env

        return {
            "PROVISION_BROKER_URL": self.broker_url,
            "PROVISION_REDIS_URL": self.redis_url,
            "PROVISION_DATABASE_URL": self.database_url,
            **(signing_env(self.signing_key) if self.signing_key else {}),
            **controller_env(),
            # Every benchmark process is guest: trusted for every target's outcomes.
            "PROVISION_TRUSTED_SENDERS": USER,
        }

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url, decode_responses=True)

    def database(self) -> Database:
        """A checked pool on the benchmark's own database; the caller closes it."""
        return Database.open(self.database_url, max_size=2, name="bench")


#: Tries of one rabbitmqctl command: the shared broker may be restarting under another run.
CTL_ATTEMPTS = 5


def _ctl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        raise BenchError("rabbitmqctl is not on PATH: it is needed to make a vhost per benchmark")
    for attempt in range(CTL_ATTEMPTS if check else 1):
        done = subprocess.run([ctl, "-q", *args], capture_output=True, text=True, timeout=60)
        if done.returncode == 0:
            break
        time.sleep(0.5 * 2**attempt)
    if check and done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[:1]
        raise BenchError(f"rabbitmqctl {' '.join(args)} failed: {' '.join(last)}")
    return done


def remove_stale_vhosts() -> list[str]:
    """Delete `bench-*-<pid>` vhosts and bench databases whose run is gone (killed before it
    could clean up)."""
    removed = database.remove_stale()
    for line in _ctl("list_vhosts", check=False).stdout.splitlines():
        match = _OURS.match(line.strip())
        if match is None or psutil.pid_exists(int(match.group(1))):
            continue
        _ctl("delete_vhost", line.strip(), check=False)
        removed.append(line.strip())
    return removed


@contextlib.contextmanager
def sandbox(name: str, redis_db: int) -> Iterator[Sandbox]:
    """A fresh vhost, an empty Redis database and a migrated PostgreSQL database of its own
    for the duration of one benchmark."""
    if redis_db == 0:
        raise BenchError("Redis database 0 is the user's; benchmarks need another one")
    vhost = f"bench-{name}-{os.getpid()}"
    _ctl("delete_vhost", vhost, check=False)
    _ctl("add_vhost", vhost)
    try:
        with _sandbox(name, vhost, redis_db) as box:
            yield box
    finally:
        try:
            _ctl("delete_vhost", vhost)
        except BenchError as exc:  # the next run removes it: its pid will be gone
            log.warning("vhost %s left behind: %s", vhost, exc)


def operator_key(directory: Path, database_url: str) -> Path:
    """A fresh operator key under `directory`, registered in the sandbox's database with a
    scope that grants everything: the benchmarks' change events are signed like anyone's."""
    from contracts.issuers import Scope
    from contracts.signatures import load_private_key, new_private_key, write_private_key
    from producers.truth.issuers import Registry

    path = directory / f"{OPERATOR}.key"
    write_private_key(path, new_private_key())
    with Database.open(database_url, max_size=1, name="bench-keys") as db:
        scope = Scope(shell=True, allow_setid=True)
        Registry(db).ensure(OPERATOR, scope, load_private_key(path), actor="bench")
    return path


@contextlib.contextmanager
def _sandbox(name: str, vhost: str, redis_db: int) -> Iterator[Sandbox]:
    """The inside of `sandbox`: the database, Redis emptied before and after."""
    with (
        database.database(database.name_of(name)) as database_url,
        tempfile.TemporaryDirectory(prefix="bench-key-") as keys,
    ):
        _ctl("set_permissions", "-p", vhost, USER, ".*", ".*", ".*")
        box = Sandbox(
            vhost=vhost,
            broker_url=f"{AMQP_ROOT}/{quote(vhost, safe='')}",
            redis_url=f"{REDIS_ROOT}/{redis_db}",
            redis_db=redis_db,
            database_url=database_url,
            signing_key=str(operator_key(Path(keys), database_url)),
        )
        client = box.redis()
        client.flushdb()
        try:
            yield box
        finally:
            with contextlib.suppress(redis.RedisError):
                client.flushdb()
            client.close()
