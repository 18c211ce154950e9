"""Who our processes logged in as, from the servers themselves: Redis's CLIENT LIST and
PostgreSQL's pg_stat_activity, joined to the processes by their TCP ports (psutil), and
RabbitMQ's connections on a vhost (the management API).

A process's role is the user of its PROVISION_ENV_FILE (`DIR/<user>.env`); the pool children
of a Celery worker inherit it, so their connections count for their worker's role.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import psutil
import psycopg
import redis

from producers.access.management import DEFAULT_ADMIN_URL, Management
from producers.access.users import vhost_of
from tests.databases import pg_superuser_url

REDIS_PORT, POSTGRES_PORT = 6379, 5432
#: (the role the process runs as, the store, the user the server says it logged in as)
Login = tuple[str, str, str]


def role_of(proc: psutil.Process) -> str | None:
    """The user of the env file `proc` was started with, if any."""
    try:
        path = proc.environ().get("PROVISION_ENV_FILE")
    except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    return Path(path).name.removesuffix(".env") if path else None


def _ports(procs: list[psutil.Process], server_port: int) -> dict[int, str]:
    """Local port -> the role of the process holding a connection to 127.0.0.1:server_port."""
    found = {}
    for proc in procs:
        role = role_of(proc)
        try:
            connections = proc.net_connections(kind="tcp4")
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        for c in connections:
            if role and c.raddr and c.raddr.port == server_port and c.status == "ESTABLISHED":
                found[c.laddr.port] = role
    return found


def logins(parent: psutil.Process) -> set[Login]:
    """Every Redis and PostgreSQL login the descendants of `parent` hold now."""
    try:
        procs = parent.children(recursive=True)
    except psutil.NoSuchProcess:
        return set()
    found: set[Login] = set()
    by_port = _ports(procs, REDIS_PORT)
    if by_port:
        client = redis.Redis(host="127.0.0.1", port=REDIS_PORT, decode_responses=True)
        try:
            for entry in client.client_list():
                port = int(str(entry.get("addr", ":0")).rsplit(":", 1)[1])
                if port in by_port:
                    found.add((by_port[port], "redis", str(entry.get("user"))))
        finally:
            client.close()
    by_port = _ports(procs, POSTGRES_PORT)
    if by_port:
        with psycopg.connect(pg_superuser_url(), connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT client_port, usename FROM pg_stat_activity WHERE client_port = ANY(%s)",
                (list(by_port),),
            ).fetchall()
        found |= {(by_port[port], "postgresql", str(user)) for port, user in rows}
    return found


def logged_in(demo: psutil.Process, wanted: set[tuple[str, str]]) -> set[Login] | None:
    """The demo's logins now, once every (role, store) of `wanted` is among them."""
    found = logins(demo)
    return found if wanted <= {(role, store) for role, store, _ in found} else None


def connected_users(env: dict[str, str]) -> set[str]:
    """The users of the connections to the demo's vhost, as the management API lists them."""
    vhost = vhost_of(env["PROVISION_BROKER_URL"])
    api = Management(DEFAULT_ADMIN_URL)
    found = api.call("GET", f"vhosts/{quote(vhost, safe='')}/connections", missing_ok=True)
    return {str(c.get("user")) for c in found or []}
