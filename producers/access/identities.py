"""Every role's identity in all three stores: its RabbitMQ user (users.py), its Redis ACL user
(redis_users.py) and its PostgreSQL login role (database_roles.py), and one environment file
per role with the three URLs (environment.py).

Idempotent: each store's password is kept when the role's files hold one, unless `rotate`.
A role without Redis rights (redis_access) gets no Redis user; one without grants (grants.py)
no login role. Redis's `default` user is left as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
import redis

from broker_config import Endpoints
from broker_config.endpoints import BROKER_URL_ENV, REDIS_URL_ENV
from broker_config.permissions import DEFAULT_PREFIX, Role
from broker_config.redis_access import redis_rights
from producers.access import database_roles, redis_users
from producers.access.environment import env_path, read_env, write_env
from producers.access.grants import grants_of
from producers.access.management import Management
from producers.access.passwords import kept_or_new
from producers.access.users import Granted, credentials_path, declare_topology, ensure_user
from producers.store.pool import connect
from producers.store.url import ENV as DATABASE_URL_ENV
from producers.store.url import database_url


@dataclass(frozen=True)
class Stores:
    """Administrators' handles on Redis and PostgreSQL, and the URLs the roles' URLs copy
    (host, port, database, query)."""

    redis: redis.Redis
    redis_url: str
    database: psycopg.Connection[Any]  # autocommit, as an administrator
    database_url: str


@contextmanager
def open_stores(redis_url: str | None, given_database_url: str | None) -> Iterator[Stores]:
    """Administrators' connections to Redis and PostgreSQL (the URLs given, else
    PROVISION_REDIS_URL and PROVISION_DATABASE_URL), for one command; closed after."""
    chosen_redis = redis_url or Endpoints.from_env().redis_url
    chosen_database = database_url(given_database_url)
    client = redis_users.admin_client(chosen_redis)
    try:
        with connect(chosen_database, autocommit=True) as conn:
            yield Stores(client, chosen_redis, conn, chosen_database)
    finally:
        client.close()


def ensure_identity(
    api: Management,
    stores: Stores,
    role: Role,
    vhost: str,
    broker_url: str,
    out: Path,
    *,
    prefix: str = DEFAULT_PREFIX,
    rotate: bool = False,
) -> Granted:
    """One role's user in every store it uses, and its `.url` and `.env` files."""
    user = role.user(prefix)
    path = env_path(out, user)
    stored = read_env(path) if path.exists() and not rotate else {}
    granted = ensure_user(api, role, vhost, broker_url, out, prefix=prefix, rotate=rotate)
    environment = {BROKER_URL_ENV: credentials_path(out, user).read_text().strip()}
    redis_done = database_done = None
    rights = redis_rights(role.name)
    if rights:
        existed = redis_users.exists(stores.redis, user)
        password, redis_done = kept_or_new(stored.get(REDIS_URL_ENV), lambda: existed)
        redis_users.ensure_user(stores.redis, user, rights, password)
        environment[REDIS_URL_ENV] = redis_users.user_url(stores.redis_url, user, password)
    if grants_of(role.name):
        existed = database_roles.exists(stores.database, user)
        password, database_done = kept_or_new(stored.get(DATABASE_URL_ENV), lambda: existed)
        database_roles.ensure_role(stores.database, user, role.name, password)
        environment[DATABASE_URL_ENV] = database_roles.role_url(stores.database_url, user, password)
    write_env(path, environment)
    return replace(granted, redis=redis_done, database=database_done, env=path)


def apply_everywhere(
    api: Management,
    stores: Stores,
    roles: list[Role],
    vhost: str,
    broker_url: str,
    out: Path,
    *,
    regions: Iterable[str] = (),
    prefix: str = DEFAULT_PREFIX,
    rotate: bool = False,
) -> list[Granted]:
    """The broker topology, then every role's identities; see the module docstring."""
    database_roles.check_admin(stores.database)
    database_roles.check_ours(stores.database, [r.user(prefix) for r in roles if grants_of(r.name)])
    declare_topology(api, vhost, regions)
    return [
        ensure_identity(api, stores, role, vhost, broker_url, out, prefix=prefix, rotate=rotate)
        for role in roles
    ]
