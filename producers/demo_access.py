"""Who the demo's processes are: each its own role's RabbitMQ user, Redis ACL user and
PostgreSQL login role, made as `provision access apply` makes them (apply_everywhere).

The demo itself is the administrator: it migrates the schema and creates the role users, so
it is given administrators' credentials, one per store:

* RabbitMQ: the management API URL (`--admin-url`, else PROVISION_ADMIN_URL, else guest);
* Redis: PROVISION_REDIS_URL (by default Redis's `default` user), which the roles' URLs copy;
* PostgreSQL: a role that may create roles (`--admin-database-url`, else
  PROVISION_ADMIN_DATABASE_URL, else PROVISION_DATABASE_URL's server and database as the
  local superuser `postgres`, which trust auth lets in on a development machine, as
  `.ci/services` sets it up). The demo's own `provisioning` role may only create databases.

Each child is started with `PROVISION_ENV_FILE=<state-dir>/access/<user>.env` and none of the
demo's own store URLs: nothing the administrator logs in with reaches a child.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from broker_config import Endpoints
from broker_config.endpoints import (
    BROKER_URL_ENV,
    BROKER_URL_FILE_ENV,
    DATABASE_URL_ENV,
    REDIS_URL_ENV,
)
from broker_config.env_file import ENV_FILE_ENV
from broker_config.permissions import roles
from producers.access import database_roles
from producers.access.environment import env_path, role_environment
from producers.access.errors import AccessError
from producers.access.identities import apply_everywhere, open_stores
from producers.access.management import Management, admin_url
from producers.access.users import access_prefix, vhost_of
from producers.store.errors import DatabaseUnreachable
from producers.store.url import database_url

#: The PostgreSQL administrator of the demo (a superuser, or CREATEROLE owning the tables).
ADMIN_DATABASE_URL_ENV = "PROVISION_ADMIN_DATABASE_URL"
#: Where the demo's administrator is named, for the error when it may not create roles.
ADMIN_DATABASE_HINT = f"--admin-database-url (or {ADMIN_DATABASE_URL_ENV})"
#: What each store is called in the `access:` line.
STORES = ("RabbitMQ", "Redis", "PostgreSQL")


def admin_database_url(given: str | None = None) -> str:
    """`given`, else PROVISION_ADMIN_DATABASE_URL, else PROVISION_DATABASE_URL's host, port
    and database as `postgres` without a password (the local superuser over trust auth)."""
    chosen = given or os.environ.get(ADMIN_DATABASE_URL_ENV)
    if chosen:
        return chosen
    parts = urlsplit(database_url())
    host = parts.hostname or "127.0.0.1"
    netloc = "postgres@" + (f"[{host}]" if ":" in host else host)
    netloc += f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


@dataclass(frozen=True)
class DemoAccess:
    """Who each of the demo's processes is: process name -> its role's user, the stores
    it has a login in, and where their credentials are (`<state-dir>/access`, 0700, 0600
    files)."""

    directory: Path
    users: dict[str, str]
    stores: dict[str, tuple[str, ...]]

    def env(self, process: str) -> dict[str, str | None]:
        """The environment of one child: its role's env file, and none of the demo's own
        URLs (None: not inherited), so it has no login but its role's."""
        unset: dict[str, str | None] = dict.fromkeys(
            (BROKER_URL_ENV, BROKER_URL_FILE_ENV, REDIS_URL_ENV, DATABASE_URL_ENV)
        )
        return {**unset, ENV_FILE_ENV: str(env_path(self.directory, self.users[process]))}

    def urls(self, process: str) -> dict[str, str]:
        """The URLs of one role (its env file's), for what the demo does as that role."""
        return role_environment(self.directory, self.users[process])

    def line(self) -> str:
        """`access: controller as provision-controller (RabbitMQ, Redis, PostgreSQL), ...`
        (no secret)."""
        shown = [("controller", "controller")]
        shown += [(f"worker {r}", f"worker-{r}") for r in sorted(self._regions())]
        shown += [("aggregator", "aggregator"), ("change event", "operator")]
        return "access: " + ", ".join(
            f"{what} as {self.users[name]} ({', '.join(self.stores[name])})" for what, name in shown
        )

    def _regions(self) -> list[str]:
        return [name.removeprefix("worker-") for name in self.users if name.startswith("worker-")]


def grant_access(
    state_dir: Path,
    regions: tuple[str, ...],
    given_admin_url: str | None = None,
    given_admin_database_url: str | None = None,
) -> DemoAccess:
    """Create (or update) the demo's role users in RabbitMQ (on its vhost), Redis and
    PostgreSQL, as `provision access apply` does. Passwords are kept from one run to the
    next (their files are), so a rerun changes nothing. The schema must be migrated first
    (the grants are on its tables)."""
    endpoints = Endpoints.from_env()
    api = Management(admin_url(given_admin_url))
    api.whoami()  # unreachable or refused: one clear line before anything is changed
    directory = state_dir / "access"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    wanted = roles(regions)
    try:
        with open_stores(
            endpoints.redis_url, admin_database_url(given_admin_database_url)
        ) as admin:
            database_roles.check_admin(admin.database, hint=ADMIN_DATABASE_HINT)
            granted = apply_everywhere(
                api, admin, wanted, vhost_of(endpoints.broker_url), endpoints.broker_url,
                directory, regions=regions, prefix=access_prefix(),
            )  # fmt: skip
    except DatabaseUnreachable as exc:  # the schema was just migrated: the server is up
        raise AccessError(
            f"{exc}: the demo's PostgreSQL administrator (it creates the login roles) cannot "
            f"log in: pass {ADMIN_DATABASE_HINT} with a superuser or a CREATEROLE role that "
            "owns the tables"
        ) from None
    users, logins = {}, {}
    for role, done in zip(wanted, granted, strict=True):
        name = "-".join([role.name, *([role.instance] if role.instance else [])])
        users[name] = done.user
        has = (True, done.redis is not None, done.database is not None)
        logins[name] = tuple(store for store, yes in zip(STORES, has, strict=True) if yes)
    return DemoAccess(directory, users, logins)
