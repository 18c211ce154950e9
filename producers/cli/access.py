"""`provision access apply|show|revoke`: one identity per process role, least privilege.

The roles are broker_config.permissions (RabbitMQ), broker_config.redis_access (Redis) and
producers.access.grants (PostgreSQL); this applies them with administrators' credentials:
RabbitMQ's management HTTP API (`--admin-url`, else PROVISION_ADMIN_URL), Redis
(`--redis-url`, else PROVISION_REDIS_URL) and PostgreSQL (`--database-url`, else
PROVISION_DATABASE_URL).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click
import platformdirs

from broker_config import Endpoints
from broker_config.permissions import DEFAULT_PREFIX, roles
from producers.access import database_roles, redis_users
from producers.access.identities import apply_everywhere, open_stores
from producers.access.management import ADMIN_URL_ENV, Management, admin_url
from producers.access.users import PREFIX_ENV, access_prefix, show, vhost_of
from producers.cli import cli
from producers.cli.db import open_database
from producers.records import audit

if TYPE_CHECKING:
    from producers.store.database import Database

admin_option = click.option(
    "--admin-url",
    default=None,
    help=f"Management API URL with an administrator's credentials; default ${ADMIN_URL_ENV}, "
    "else http://guest:guest@127.0.0.1:15672.",
)
vhost_option = click.option(
    "--vhost", default=None, help="The vhost (default: PROVISION_BROKER_URL's)."
)
redis_option = click.option(
    "--redis-url",
    default=None,
    help="Redis URL of an administrator (ACL SETUSER); default $PROVISION_REDIS_URL, else "
    "redis://127.0.0.1:6379/0. The roles' Redis URLs copy its host, port and database.",
)
database_option = click.option(
    "--database-url",
    default=None,
    help="PostgreSQL URL of a superuser or a CREATEROLE role owning the tables; default "
    "$PROVISION_DATABASE_URL. The roles' database URLs copy its host, port and database.",
)


def default_out() -> Path:
    """PROVISION_STATE_DIR/access, else the user state dir's `access`."""
    base = os.environ.get("PROVISION_STATE_DIR")
    return (Path(base) if base else Path(platformdirs.user_state_dir("provisioning"))) / "access"


@cli.group()
def access() -> None:
    """Broker users per role (controller, aggregator, worker, emitter, agent, operator)."""


@access.command("apply")
@vhost_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory of the credentials files, USER.url and USER.env each (0700; files 0600). "
    "Default PROVISION_STATE_DIR/access, else the user state dir.",
)
@click.option("--region", "regions", multiple=True, help="A worker user per region (repeatable).")
@click.option("--emitter", "emitters", multiple=True, help="An emitter user per service.")
@click.option(
    "--prefix",
    default=access_prefix,
    help=f"User name prefix (default ${PREFIX_ENV}, else {DEFAULT_PREFIX}).",
)
@click.option("--rotate", is_flag=True, help="New passwords for every user (rewrites the files).")
@click.option("--json", "as_json", is_flag=True, help="Print {vhost, users: [...]} last.")
@admin_option
@redis_option
@database_option
def access_apply(
    vhost: str | None,
    out: Path | None,
    regions: tuple[str, ...],
    emitters: tuple[str, ...],
    prefix: str,
    rotate: bool,
    as_json: bool,
    admin_url: str | None,
    redis_url: str | None,
    database_url: str | None,
) -> None:
    """Declare the topology; create or update every role's RabbitMQ user, Redis ACL user and
    PostgreSQL login role; write USER.url and USER.env for each.

    Idempotent: a rerun keeps passwords (their files are kept) unless --rotate. Redis's
    `default` user is left as it is.
    """
    broker_url = Endpoints.from_env().broker_url
    chosen_vhost = vhost or vhost_of(broker_url)
    from_env = [r for r in os.environ.get("PROVISION_REGIONS", "").split(",") if r]
    wanted = roles([*regions, *from_env], emitters)
    db, who = _recording()
    api = _api(admin_url)
    with open_stores(redis_url, database_url) as admin:
        done = apply_everywhere(
            api, admin, wanted, chosen_vhost, broker_url, out or default_out(),
            regions=[*regions, *from_env], prefix=prefix, rotate=rotate,
        )  # fmt: skip
    users = [
        {"user": d.user, "role": d.role, "password": d.password, "redis": d.redis}
        | {"database": d.database}
        for d in done
    ]
    detail = {"vhost": chosen_vhost, "rotate": rotate, "users": users}  # never a password
    audit.record_after(db, "access.apply", chosen_vhost, detail, who=who)
    if as_json:
        click.echo(json.dumps({"vhost": chosen_vhost, "users": [d.as_json() for d in done]}))
        return
    for d in done:
        stores_done = (("redis", d.redis), ("database", d.database))
        extra = "".join(f"; {name} {what}" for name, what in stores_done if what)
        click.echo(f"{d.password:8} {d.user} ({d.role}): {d.path}, {d.env}{extra}")


@access.command("show")
@vhost_option
@click.option(
    "--prefix",
    default=access_prefix,
    help=f"User name prefix (default ${PREFIX_ENV}, else {DEFAULT_PREFIX}).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print {vhost, users: [...], redis_users: [...], database_roles: [...]}.",
)
@admin_option
@redis_option
@database_option
def access_show(
    vhost: str | None,
    prefix: str,
    as_json: bool,
    admin_url: str | None,
    redis_url: str | None,
    database_url: str | None,
) -> None:
    """Users with rights on the vhost, their roles and (topic) permissions, as RabbitMQ says;
    the Redis users of the prefix as ACL GETUSER says (no password hashes); the PostgreSQL
    login roles of provision with their grants on the database."""
    chosen_vhost = vhost or vhost_of(Endpoints.from_env().broker_url)
    rows = show(_api(admin_url), chosen_vhost, prefix)
    with open_stores(redis_url, database_url) as admin:
        redis_rows = redis_users.show(admin.redis, prefix)
        database_rows = database_roles.show(admin.database, prefix)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "vhost": chosen_vhost,
                    "users": rows,
                    "redis_users": redis_rows,
                    "database_roles": database_rows,
                }
            )
        )
        return
    for row in rows:
        p = row["permissions"]
        click.echo(
            f"{row['user']} ({row['role']}): configure {p['configure']}  "
            f"write {p['write']}  read {p['read']}"
        )
        for t in row["topic_permissions"]:
            click.echo(f"    topic {t['exchange']}: write {t['write']}  read {t['read']}")
    for r in redis_rows:
        click.echo(f"redis {r['user']} ({' '.join(r['flags'])}): {r['keys']}  {r['commands']}")
    for d in database_rows:
        grants = "  ".join(f"{t} {','.join(p)}" for t, p in d["grants"].items())
        login = "login" if d["login"] else "no login"
        click.echo(f"postgresql {d['role_name']} ({d['role']}, {login}): {grants or 'no grants'}")


@access.command("revoke")
@click.argument("user")
@admin_option
@redis_option
@database_option
def access_revoke(
    user: str, admin_url: str | None, redis_url: str | None, database_url: str | None
) -> None:
    """Delete USER everywhere: the RabbitMQ user (every vhost's permissions with it, its
    connections closed), the Redis ACL user (its connections close with it) and the
    PostgreSQL login role (its privileges on the database revoked first)."""
    db, who = _recording()
    api = _api(admin_url)
    if api.whoami().get("name") == user:
        raise click.BadParameter("refusing to revoke the administrator in use", param_hint="USER")
    before = api.user(user)
    with open_stores(redis_url, database_url) as admin:
        in_rabbitmq = api.delete_user(user)
        closed = api.close_connections_of(user) if in_rabbitmq else 0  # a reconnect fails
        redis_not = redis_users.delete_user(admin.redis, user)
        database_not = database_roles.drop_role(admin.database, user)
    if not in_rabbitmq and redis_not and database_not:
        raise click.BadParameter(
            f"no user {user!r}: not in RabbitMQ, Redis ({redis_not}), PostgreSQL ({database_not})",
            param_hint="USER",
        )
    rabbitmq = f"{closed} connection(s) closed" if in_rabbitmq else "no RabbitMQ user"
    redis_said = "Redis user deleted" if redis_not is None else f"Redis: {redis_not}"
    database_said = (
        "PostgreSQL role dropped" if database_not is None else f"PostgreSQL: {database_not}"
    )
    tags = (before or {}).get("tags")
    detail = {
        "user": user,
        "tags": tags,
        "connections_closed": closed,
        "redis": redis_not or "deleted",
        "database": database_not or "dropped",
    }
    audit.record_after(db, "access.revoke", user, detail, who=who)
    click.echo(f"revoked {user} ({rabbitmq}; {redis_said}; {database_said})")


def _recording() -> tuple[Database, str]:
    """The system of record and the actor, both checked before anything changes: an access
    change is recorded right after it is made (it writes RabbitMQ, not PostgreSQL)."""
    return open_database(), audit.actor()


def _api(given: str | None) -> Management:
    api = Management(admin_url(given))
    api.whoami()  # unreachable or refused: one clear line before anything is changed
    return api
