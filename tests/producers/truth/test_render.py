"""Rendering: one function, deterministic canonical bytes, overlays by identity."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from contracts import FileSpec
from contracts.truth import RenderedState, SourceBundle, canonical_bytes, resource_id
from producers.truth.errors import UnknownTarget
from producers.truth.render import render, render_all, render_bytes
from producers.truth.source import load
from tests.isolation import ROOT
from tests.producers.truth.conftest import EXAMPLE, edit


@pytest.fixture(scope="module")
def bundle() -> SourceBundle:
    return load(EXAMPLE)


def paths(state: RenderedState) -> list[str]:
    return [resource_id(spec) for spec in state.desired.resources]


def content(state: RenderedState, path: str) -> str:
    spec = state.desired.resources[paths(state).index(path)]
    assert isinstance(spec, FileSpec)
    return spec.content


def test_roles_in_target_order_then_overlay_additions(bundle: SourceBundle) -> None:
    state = render(bundle, "web-eu-dev", 1)
    assert paths(state) == [
        "/etc/provision",
        "/etc/motd",
        "/etc/provision/managed",
        "/etc/app",
        "/etc/app/app.conf",
        "/var/www",
        "/etc/provision/environment",
    ]
    assert state.values == {"tier_name": "development"}
    assert state.waivers == ()


def test_an_overlay_replaces_in_place_and_only_where_the_role_is(bundle: SourceBundle) -> None:
    web, db = render(bundle, "web-eu-prod", 1), render(bundle, "db-eu-prod", 1)
    assert "workers = 8" in content(web, "/etc/app/app.conf")
    assert paths(web) == paths(render(bundle, "web-eu-dev", 1)), "same place as in the role"
    assert "/etc/app/app.conf" not in paths(db), "a replacement does not leak to db targets"
    assert "max_connections = 200" in content(db, "/etc/db.conf")


def test_waivers_go_only_to_the_targets_they_cover(bundle: SourceBundle) -> None:
    assert [w.resource for w in render(bundle, "db-us-prod", 1).waivers] == ["/etc/db.conf"]
    assert render(bundle, "db-eu-prod", 1).waivers == ()


def test_bytes_are_canonical_and_parse_back_to_the_same_bytes(bundle: SourceBundle) -> None:
    raw = render_bytes(bundle, "web-eu-prod", 3)
    assert raw == render_bytes(bundle, "web-eu-prod", 3)
    assert raw == canonical_bytes(render(bundle, "web-eu-prod", 3))
    data = json.loads(raw)
    assert raw == json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    assert data["revision"] == 3 and data["target"] == "web-eu-prod"
    assert all("kind" in spec for spec in data["desired"]["resources"])
    assert canonical_bytes(RenderedState.model_validate_json(raw)) == raw


def test_every_process_renders_the_same_bytes(bundle: SourceBundle) -> None:
    here = {t: hashlib.sha256(b).hexdigest() for t, b in render_all(bundle, 7).items()}
    script = (
        "import hashlib, json, pathlib\n"
        "from producers.truth.source import load\n"
        "from producers.truth.render import render_all\n"
        f"b = load(pathlib.Path({str(EXAMPLE)!r}))\n"
        "print(json.dumps({t: hashlib.sha256(v).hexdigest() for t, v in "
        "render_all(b, 7).items()}))\n"
    )
    for seed in ("0", "12345"):  # another hash seed: no set or dict order may leak out
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == here


def test_yaml_formatting_does_not_change_the_bytes(truth_dir: Path) -> None:
    before = render_all(load(truth_dir), 1)
    edit(truth_dir / "roles" / "web.yaml", lambda d: None)  # re-dumped: other quoting, order
    (truth_dir / "inventory.yaml").write_text(
        "# a comment\n" + (truth_dir / "inventory.yaml").read_text()
    )
    assert render_all(load(truth_dir), 1) == before


def test_an_unknown_target_is_named(bundle: SourceBundle) -> None:
    with pytest.raises(UnknownTarget, match="no target 'ghost' at revision 1"):
        render(bundle, "ghost", 1)
