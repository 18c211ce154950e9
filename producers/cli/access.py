"""`provision access apply|show|revoke`: one broker user per process role, least privilege.

The roles are broker_config.permissions; this applies them through RabbitMQ's management
HTTP API with an administrator's credentials (`--admin-url`, else PROVISION_ADMIN_URL).
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
from producers.access.management import ADMIN_URL_ENV, Management, admin_url
from producers.access.users import PREFIX_ENV, access_prefix, apply, show, vhost_of
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
    help="Directory of the credentials files, one USER.url each (0700; files 0600). "
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
def access_apply(
    vhost: str | None,
    out: Path | None,
    regions: tuple[str, ...],
    emitters: tuple[str, ...],
    prefix: str,
    rotate: bool,
    as_json: bool,
    admin_url: str | None,
) -> None:
    """Declare the topology and create or update every role's user and permissions.

    Idempotent: a rerun keeps passwords (their files are kept) unless --rotate.
    """
    broker_url = Endpoints.from_env().broker_url
    chosen_vhost = vhost or vhost_of(broker_url)
    from_env = [r for r in os.environ.get("PROVISION_REGIONS", "").split(",") if r]
    wanted = roles([*regions, *from_env], emitters)
    db, who = _recording()
    api = _api(admin_url)
    done = apply(
        api, wanted, chosen_vhost, broker_url, out or default_out(),
        regions=[*regions, *from_env], prefix=prefix, rotate=rotate,
    )  # fmt: skip
    users = [{"user": d.user, "role": d.role, "password": d.password} for d in done]
    detail = {"vhost": chosen_vhost, "rotate": rotate, "users": users}  # never a password
    audit.record_after(db, "access.apply", chosen_vhost, detail, who=who)
    if as_json:
        click.echo(json.dumps({"vhost": chosen_vhost, "users": [d.as_json() for d in done]}))
        return
    for d in done:
        click.echo(f"{d.password:8} {d.user} ({d.role}): {d.path}")


@access.command("show")
@vhost_option
@click.option(
    "--prefix",
    default=access_prefix,
    help=f"User name prefix (default ${PREFIX_ENV}, else {DEFAULT_PREFIX}).",
)
@click.option("--json", "as_json", is_flag=True, help="Print {vhost, users: [...]}.")
@admin_option
def access_show(vhost: str | None, prefix: str, as_json: bool, admin_url: str | None) -> None:
    """Users with rights on the vhost, their roles and (topic) permissions, as RabbitMQ says."""
    chosen_vhost = vhost or vhost_of(Endpoints.from_env().broker_url)
    rows = show(_api(admin_url), chosen_vhost, prefix)
    if as_json:
        click.echo(json.dumps({"vhost": chosen_vhost, "users": rows}))
        return
    for row in rows:
        p = row["permissions"]
        click.echo(
            f"{row['user']} ({row['role']}): configure {p['configure']}  "
            f"write {p['write']}  read {p['read']}"
        )
        for t in row["topic_permissions"]:
            click.echo(f"    topic {t['exchange']}: write {t['write']}  read {t['read']}")


@access.command("revoke")
@click.argument("user")
@admin_option
def access_revoke(user: str, admin_url: str | None) -> None:
    """Delete USER (every vhost's permissions with it) and close its open connections."""
    db, who = _recording()
    api = _api(admin_url)
    if api.whoami().get("name") == user:
        raise click.BadParameter("refusing to revoke the administrator in use", param_hint="USER")
    before = api.user(user)
    if not api.delete_user(user):
        raise click.BadParameter(f"no RabbitMQ user {user!r}", param_hint="USER")
    closed = api.close_connections_of(user)  # after: a reconnect must already fail
    tags = (before or {}).get("tags")
    detail = {"user": user, "tags": tags, "connections_closed": closed}
    audit.record_after(db, "access.revoke", user, detail, who=who)
    click.echo(f"revoked {user} ({closed} connection(s) closed)")


def _recording() -> tuple[Database, str]:
    """The system of record and the actor, both checked before anything changes: an access
    change is recorded right after it is made (it writes RabbitMQ, not PostgreSQL)."""
    return open_database(), audit.actor()


def _api(given: str | None) -> Management:
    api = Management(admin_url(given))
    api.whoami()  # unreachable or refused: one clear line before anything is changed
    return api
