"""One vhost of the module's own with every role applied by `provision access apply`.

RabbitMQ users are global, so the users carry the group's prefix (tests/isolation.py
`access_prefix_of`), and the isolation deletes them at the end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from contracts import Target
from producers.access.management import DEFAULT_ADMIN_URL, Management
from producers.access.users import agent_url, vhost_of
from tests.isolation import Isolated, Isolation, need, reachable

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

    def url(self, role: str, instance: str | None = None) -> str:
        return self.urls["-".join([self.prefix, role, *([instance] if instance else [])])]


@pytest.fixture(scope="module")
def applied(isolation: Isolation, tmp_path_factory: pytest.TempPathFactory) -> AccessVhost:
    need(reachable(15672), "the RabbitMQ management API is not reachable on 127.0.0.1:15672")
    iso = isolation("access")
    prefix = iso.env["PROVISION_ACCESS_PREFIX"]
    api = Management(DEFAULT_ADMIN_URL)
    vhost = vhost_of(iso.broker_url)
    out = tmp_path_factory.mktemp("access") / "credentials"
    args = ["access", "apply", "--out", str(out), "--json"]
    args += [f"--region={r}" for r in REGIONS] + [f"--emitter={e}" for e in EMITTERS]
    done = iso.provision(*args)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    urls = {u["user"]: Path(u["file"]).read_text().strip() for u in report["users"]}
    for target, (region, environment) in AGENTS.items():
        t = Target(id=target, region=region, environment=environment, address="local:///x")
        user = f"{prefix}-agent-{target}"
        urls[user] = agent_url(api, t, iso.broker_url, prefix)
    return AccessVhost(iso, api, vhost, prefix, out, urls, report)  # isolation deletes the users
