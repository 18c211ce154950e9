"""Diff: which targets change, and how, between two bundles."""

from __future__ import annotations

from pathlib import Path

from producers.truth.diff import diff
from producers.truth.source import load
from tests.producers.truth.conftest import EXAMPLE, edit


def test_equal_bundles_change_nothing() -> None:
    bundle = load(EXAMPLE)
    result = diff(bundle, 1, bundle, 2)
    assert result.changed == [] and result.unchanged == 7
    assert result.targets_added == [] and result.targets_removed == []


def test_a_role_change_shows_on_exactly_its_targets(truth_dir: Path) -> None:
    old = load(truth_dir)

    def web(data: dict) -> None:
        data["resources"][2]["mode"] = "0750"  # /var/www changed
        data["resources"].append({"kind": "directory", "path": "/var/log/app"})

    edit(truth_dir / "roles" / "web.yaml", web)
    result = diff(old, 1, load(truth_dir), 2)
    assert sorted(d.target for d in result.changed) == [
        "web-eu-dev",
        "web-eu-prod",
        "web-eu-staging",
        "web-us-prod",
    ]
    first = result.changed[0]
    assert first.changed == ["/var/www"] and first.added == ["/var/log/app"]
    assert result.unchanged == 3
    assert result.as_json()["changed"][0]["added"] == ["/var/log/app"]


def test_targets_added_removed_and_inventory_fields(truth_dir: Path) -> None:
    old = load(truth_dir)

    def inventory(data: dict) -> None:
        gone = data["targets"].pop()
        data["targets"].append({**gone, "id": "db-us-prod-2"})
        data["targets"][0]["address"] = "local:///tmp/provision-truth/elsewhere"

    edit(truth_dir / "inventory.yaml", inventory)
    edit(truth_dir / "waivers.yaml", lambda d: d["waivers"].clear())
    result = diff(old, 1, load(truth_dir), 2)
    assert result.targets_added == ["db-us-prod-2"]
    assert result.targets_removed == ["db-us-prod"]
    [moved] = result.changed
    assert moved.target == "web-eu-dev" and moved.inventory == ["address"]


def test_values_and_waivers_are_compared(truth_dir: Path) -> None:
    old = load(truth_dir)
    edit(truth_dir / "environments" / "dev.yaml", lambda d: d["values"].update(tier_name="x"))
    edit(truth_dir / "waivers.yaml", lambda d: d["waivers"][0].update(owner="someone-else"))
    result = diff(old, 1, load(truth_dir), 2)
    by_target = {d.target: d for d in result.changed}
    assert by_target["web-eu-dev"].values == ["tier_name"]
    assert by_target["db-us-prod"].waivers_changed == [old.waivers[0].id]
    assert set(by_target) == {"web-eu-dev", "db-us-prod"}
