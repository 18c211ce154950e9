"""The commands end to end, in subprocesses, each test on a system of record of its own."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from contracts import ExitCode
from producers.truth.render import render_bytes
from producers.truth.source import load
from tests.isolation import ROOT, provision
from tests.producers.truth.conftest import EXAMPLE, edit

#: Slow (runs `provision state` commands as subprocesses), so not in the quick loop, `pytest -m
#: "not slow"`.
pytestmark = pytest.mark.slow

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def clean(fresh_url: str) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`provision ARGS...` on an empty database of this test's own (revisions start at 1)."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return provision(*args, env={"PROVISION_DATABASE_URL": fresh_url})

    return run


def test_publish_show_and_the_bytes_match_a_fresh_render(clean: Cli, fresh_url: str) -> None:
    done = clean("state", "publish", str(EXAMPLE), "-m", "first", "--author", "alice")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("revision 1 (sha256:")
    again = clean("state", "publish", str(EXAMPLE), "-m", "again", "--json")
    assert json.loads(again.stdout)["created"] is False
    shown = subprocess.run(
        [sys.executable, "-m", "producers", "state", "show", "web-eu-prod", "--json"],
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, "PROVISION_DATABASE_URL": fresh_url},
        timeout=60,
    )
    assert shown.returncode == 0
    assert shown.stdout == render_bytes(load(EXAMPLE), "web-eu-prod", 1) + b"\n"
    human = clean("state", "show", "web-eu-prod", "--rev", "1")
    assert "workers = 8" in human.stdout and "kind: file" in human.stdout
    listed = json.loads(clean("state", "revisions", "--json").stdout)
    assert [(r["sequence"], r["author"], r["message"]) for r in listed] == [(1, "alice", "first")]


def test_the_state_commands_need_no_redis(fresh_url: str) -> None:
    """Revisions are in PostgreSQL only: with Redis unreachable, nothing changes."""
    env = {"PROVISION_DATABASE_URL": fresh_url, "PROVISION_REDIS_URL": "redis://127.0.0.1:1/0"}
    published = provision("state", "publish", str(EXAMPLE), "-m", "no redis", env=env)
    assert published.returncode == 0, published.stderr
    listed = json.loads(provision("state", "revisions", "--json", env=env).stdout)
    assert [(r["sequence"], r["message"]) for r in listed] == [(1, "no redis")]
    shown = provision("state", "show", "db-us-prod", "--json", env=env)
    assert shown.stdout.encode() == render_bytes(load(EXAMPLE), "db-us-prod", 1) + b"\n"


def test_a_bad_directory_lists_every_problem_and_stores_nothing(
    clean: Cli, truth_dir: Path
) -> None:
    edit(truth_dir / "inventory.yaml", lambda d: d["targets"][0].update(roles=["cache"]))
    edit(truth_dir / "waivers.yaml", lambda d: d["waivers"][0].pop("owner"))
    done = clean("state", "publish", str(truth_dir), "-m", "bad")
    assert done.returncode == ExitCode.INPUT
    assert "inventory.yaml: targets.0.roles.0: unknown role 'cache'" in done.stderr
    assert "waivers.yaml: waivers.0.owner: Field required" in done.stderr
    assert json.loads(clean("state", "revisions", "--json").stdout) == []


def test_diff_and_unknown_revisions(clean: Cli, truth_dir: Path) -> None:
    clean("state", "publish", str(truth_dir), "-m", "one")
    edit(truth_dir / "roles" / "db.yaml", lambda d: d["resources"][0].update(mode="0750"))
    published = clean("state", "publish", str(truth_dir), "-m", "two")
    assert "db-eu-prod: ~/var/lib/db" in published.stdout
    result = json.loads(clean("state", "diff", "1", "latest", "--json").stdout)
    assert [d["target"] for d in result["changed"]] == ["db-eu-staging", "db-eu-prod", "db-us-prod"]
    missing = clean("state", "show", "web-eu-prod", "--rev", "7")
    assert missing.returncode == ExitCode.INPUT and "no revision 7" in missing.stderr


def test_waiver_add_list_remove_with_dir(clean: Cli, truth_dir: Path) -> None:
    clean("state", "publish", str(truth_dir), "-m", "base")
    added = clean(
        "waiver", "add", "--selector", "environment=prod", "--selector", "tier=web",
        "--resource", "/etc/app/app.conf", "--owner", "web-team", "--reason", "load test",
        "--expires-at", "2099-06-01T00:00:00Z", "--dir", str(truth_dir), "--json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["sequence"] == 2
    on_disk = yaml.safe_load((truth_dir / "waivers.yaml").read_text())["waivers"]
    assert on_disk[-1]["owner"] == "web-team"
    listed = json.loads(clean("waiver", "list", "--json").stdout)
    assert listed[-1]["targets"] == ["web-eu-prod", "web-us-prod"]
    assert listed[-1]["status"] == "active"
    removed = clean("waiver", "remove", listed[-1]["id"], "--dir", str(truth_dir))
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.startswith("revision 3 ")
    text = (truth_dir / "waivers.yaml").read_text()
    assert "web-team" not in text
    digest = hashlib.sha256(text.encode()).hexdigest()
    unchanged = clean("state", "publish", str(truth_dir), "-m", "same")
    assert unchanged.stdout.startswith("unchanged: identical to revision 3")
    assert hashlib.sha256((truth_dir / "waivers.yaml").read_text().encode()).hexdigest() == digest


def test_waiver_edits_refuse_bad_input(clean: Cli, truth_dir: Path) -> None:
    clean("state", "publish", str(truth_dir), "-m", "base")
    no_tz = clean(
        "waiver", "add", "--resource", "/etc/motd", "--owner", "o", "--reason", "r",
        "--expires-at", "2099-01-01",
    )  # fmt: skip
    assert no_tz.returncode == ExitCode.INPUT and "expires_at" in no_tz.stderr
    edit(truth_dir / "environments" / "dev.yaml", lambda d: d["values"].update(x=1))
    stale = clean(
        "waiver", "add", "--resource", "/etc/motd", "--owner", "o", "--reason", "r",
        "--expires-at", "2099-01-01T00:00:00Z", "--dir", str(truth_dir),
    )  # fmt: skip
    assert stale.returncode == ExitCode.INPUT and "publish it first" in stale.stderr
    no_match = clean(
        "waiver", "add", "--selector", "target=ghost", "--resource", "/etc/motd",
        "--owner", "o", "--reason", "r", "--expires-at", "2099-01-01T00:00:00Z",
    )  # fmt: skip
    assert no_match.returncode == ExitCode.INPUT
    assert "waivers.1.selector.targets: unknown targets: ghost" in no_match.stderr
    assert [r["sequence"] for r in json.loads(clean("state", "revisions", "--json").stdout)] == [1]
