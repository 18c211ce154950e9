"""One vhost of the module's own with every role applied by `provision access apply`.

RabbitMQ users, Redis ACL users and PostgreSQL roles are server-wide, so the users carry the
group's prefix (tests/isolation.py `access_prefix_of`), and the isolation deletes them all
at the end, also after a failure. The PostgreSQL roles are made by the local superuser (trust
auth) on the group's database; the Redis users by Redis's default user, on database 5.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from contracts import Target
from producers.access.management import DEFAULT_ADMIN_URL, Management
from producers.access.users import agent_url, vhost_of
from tests.databases import database_name_of, pg_superuser_url
from tests.isolation import Isolated, Isolation, need, provision, reachable

REGIONS = ("eu", "us")
EMITTERS = ("billing",)
#: Agents: target id -> (region, environment).
AGENTS = {"web-1": ("eu", "prod"), "web-2": ("us", "prod")}


@dataclass
class AccessVhost:
    """The applied vhost: who is who, and each user's broker URL."""

    iso: Isolated
    api: Management
    vhost: str
    prefix: str
    out: Path
    urls: dict[str, str]  # user -> broker URL
    applied: dict[str, Any]  # `access apply --json`
    admin_database_url: str  # the group's database as the superuser

    def user(self, role: str, instance: str | None = None) -> str:
        return "-".join([self.prefix, role, *([instance] if instance else [])])

    def url(self, role: str, instance: str | None = None) -> str:
        return self.urls[self.user(role, instance)]

    def access(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`provision access ARGS...` on the group's services, PostgreSQL as the superuser."""
        env = {**self.iso.env, "PROVISION_DATABASE_URL": self.admin_database_url}
        return provision("access", *args, env=env)


@pytest.fixture(scope="module")
def applied(isolation: Isolation, tmp_path_factory: pytest.TempPathFactory) -> AccessVhost:
    need(reachable(15672), "the RabbitMQ management API is not reachable on 127.0.0.1:15672")
    iso = isolation("access")
    admin_database_url = pg_superuser_url(database_name_of("access"))
    prefix = iso.env["PROVISION_ACCESS_PREFIX"]
    api = Management(DEFAULT_ADMIN_URL)
    vhost = vhost_of(iso.broker_url)
    out = tmp_path_factory.mktemp("access") / "credentials"
    args = ["apply", "--out", str(out), "--json"]
    args += [f"--region={r}" for r in REGIONS] + [f"--emitter={e}" for e in EMITTERS]
    env = {**iso.env, "PROVISION_DATABASE_URL": admin_database_url}
    done = provision("access", *args, env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    urls = {u["user"]: Path(u["file"]).read_text().strip() for u in report["users"]}
    for target, (region, environment) in AGENTS.items():
        t = Target(id=target, region=region, environment=environment, address="local:///x")
        user = f"{prefix}-agent-{target}"
        urls[user] = agent_url(api, t, iso.broker_url, prefix)
    # the isolation deletes the users, Redis users and PostgreSQL roles
    return AccessVhost(iso, api, vhost, prefix, out, urls, report, admin_database_url)
