"""The commands end to end, in subprocesses, against Redis db 15."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts import ExitCode
from producers.truth.render import render_bytes
from producers.truth.source import load
from tests.isolation import ROOT, provision
from tests.producers.truth.conftest import EXAMPLE, edit


@pytest.fixture
def clean(redis_client: Any) -> Iterator[Any]:
    """The CLI uses the real key names: start and end with none of them in db 15."""

    def wipe() -> None:
        for key in redis_client.scan_iter("provision:state:*"):
            redis_client.delete(key)

    wipe()
    yield redis_client
    wipe()


def test_publish_show_and_the_bytes_match_a_fresh_render(clean: Any) -> None:
    done = provision("state", "publish", str(EXAMPLE), "-m", "first", "--author", "alice")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("revision 1 (sha256:")
    again = provision("state", "publish", str(EXAMPLE), "-m", "again", "--json")
    assert json.loads(again.stdout)["created"] is False
    shown = subprocess.run(
        [sys.executable, "-m", "producers", "state", "show", "web-eu-prod", "--json"],
        capture_output=True,
        cwd=ROOT,
        timeout=60,
    )
    assert shown.returncode == 0
    assert shown.stdout == render_bytes(load(EXAMPLE), "web-eu-prod", 1) + b"\n"
    human = provision("state", "show", "web-eu-prod", "--rev", "1")
    assert "workers = 8" in human.stdout and "kind: file" in human.stdout
    listed = json.loads(provision("state", "revisions", "--json").stdout)
    assert [(r["sequence"], r["author"], r["message"]) for r in listed] == [(1, "alice", "first")]


def test_a_bad_directory_lists_every_problem_and_stores_nothing(
    clean: Any, truth_dir: Path
) -> None:
    edit(truth_dir / "inventory.yaml", lambda d: d["targets"][0].update(roles=["cache"]))
    edit(truth_dir / "waivers.yaml", lambda d: d["waivers"][0].pop("owner"))
    done = provision("state", "publish", str(truth_dir), "-m", "bad")
    assert done.returncode == ExitCode.INPUT
    assert "inventory.yaml: targets.0.roles.0: unknown role 'cache'" in done.stderr
    assert "waivers.yaml: waivers.0.owner: Field required" in done.stderr
    assert not list(clean.scan_iter("provision:state:*"))


def test_diff_and_unknown_revisions(clean: Any, truth_dir: Path) -> None:
    provision("state", "publish", str(truth_dir), "-m", "one")
    edit(truth_dir / "roles" / "db.yaml", lambda d: d["resources"][0].update(mode="0750"))
    published = provision("state", "publish", str(truth_dir), "-m", "two")
    assert "db-eu-prod: ~/var/lib/db" in published.stdout
    result = json.loads(provision("state", "diff", "1", "latest", "--json").stdout)
    assert [d["target"] for d in result["changed"]] == ["db-eu-staging", "db-eu-prod", "db-us-prod"]
    missing = provision("state", "show", "web-eu-prod", "--rev", "7")
    assert missing.returncode == ExitCode.INPUT and "no revision 7" in missing.stderr


def test_waiver_add_list_remove_with_dir(clean: Any, truth_dir: Path) -> None:
    provision("state", "publish", str(truth_dir), "-m", "base")
    added = provision(
        "waiver", "add", "--selector", "environment=prod", "--selector", "tier=web",
        "--resource", "/etc/app/app.conf", "--owner", "web-team", "--reason", "load test",
        "--expires-at", "2099-06-01T00:00:00Z", "--dir", str(truth_dir), "--json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["sequence"] == 2
    on_disk = yaml.safe_load((truth_dir / "waivers.yaml").read_text())["waivers"]
    assert on_disk[-1]["owner"] == "web-team"
    listed = json.loads(provision("waiver", "list", "--json").stdout)
    assert listed[-1]["targets"] == ["web-eu-prod", "web-us-prod"]
    assert listed[-1]["status"] == "active"
    removed = provision("waiver", "remove", listed[-1]["id"], "--dir", str(truth_dir))
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.startswith("revision 3 ")
    text = (truth_dir / "waivers.yaml").read_text()
    assert "web-team" not in text
    digest = hashlib.sha256(text.encode()).hexdigest()
    unchanged = provision("state", "publish", str(truth_dir), "-m", "same")
    assert unchanged.stdout.startswith("unchanged: identical to revision 3")
    assert hashlib.sha256((truth_dir / "waivers.yaml").read_text().encode()).hexdigest() == digest


def test_waiver_edits_refuse_bad_input(clean: Any, truth_dir: Path) -> None:
    provision("state", "publish", str(truth_dir), "-m", "base")
    no_tz = provision(
        "waiver", "add", "--resource", "/etc/motd", "--owner", "o", "--reason", "r",
        "--expires-at", "2099-01-01",
    )  # fmt: skip
    assert no_tz.returncode == ExitCode.INPUT and "expires_at" in no_tz.stderr
    edit(truth_dir / "environments" / "dev.yaml", lambda d: d["values"].update(x=1))
    stale = provision(
        "waiver", "add", "--resource", "/etc/motd", "--owner", "o", "--reason", "r",
        "--expires-at", "2099-01-01T00:00:00Z", "--dir", str(truth_dir),
    )  # fmt: skip
    assert stale.returncode == ExitCode.INPUT and "publish it first" in stale.stderr
    no_match = provision(
        "waiver", "add", "--selector", "target=ghost", "--resource", "/etc/motd",
        "--owner", "o", "--reason", "r", "--expires-at", "2099-01-01T00:00:00Z",
    )  # fmt: skip
    assert no_match.returncode == ExitCode.INPUT
    assert "waivers.1.selector.targets: unknown targets: ghost" in no_match.stderr
    assert [
        r["sequence"] for r in json.loads(provision("state", "revisions", "--json").stdout)
    ] == [1]
