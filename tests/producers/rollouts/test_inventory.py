"""`provision inventory load` and `provision targets` on the system of record (PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.isolation import Isolated, Isolation

#: Slow (runs `provision inventory` as a subprocess), so not in the quick loop, `pytest -m "not
#: slow"`.
pytestmark = pytest.mark.slow


@pytest.fixture
def iso(isolation: Isolation) -> Isolated:
    """The rollouts group's database: an inventory of its own, away from the session's."""
    return isolation("rollouts")


def test_load_replaces_the_inventory_and_targets_selects_from_it(
    tmp_path: Path, iso: Isolated
) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "targets": [
                    {
                        "id": "web-1",
                        "region": "eu",
                        "environment": "prod",
                        "labels": {"role": "web"},
                        "address": "local:///srv/web-1",
                        "roles": ["web"],
                    },
                    {
                        "id": "web-2",
                        "region": "us",
                        "environment": "prod",
                        "labels": {"role": "web"},
                        "address": "local:///srv/web-2",
                    },
                    {
                        "id": "db-1",
                        "region": "eu",
                        "environment": "prod",
                        "labels": {"role": "db"},
                        "address": "local:///srv/db-1",
                    },
                ]
            }
        )
    )
    loaded = iso.provision("inventory", "load", str(path), "--json")
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["total"] == 3

    picked = iso.provision("targets", "--selector", "role=web", "--selector", "region=eu", "--json")
    assert [t["id"] for t in json.loads(picked.stdout)] == ["web-1"]
    assert json.loads(picked.stdout)[0]["roles"] == ["web"]

    path.write_text(
        yaml.safe_dump(
            {
                "targets": [
                    {
                        "id": "db-1",
                        "region": "eu",
                        "environment": "prod",
                        "address": "local:///srv/db-1",
                    }
                ]
            }
        )
    )
    report = json.loads(iso.provision("inventory", "load", str(path), "--json").stdout)
    assert report == {"added": 0, "updated": 1, "removed": 2, "total": 1}
    assert [t["id"] for t in json.loads(iso.provision("targets", "--json").stdout)] == ["db-1"]
    with iso.database.connection() as conn:  # in the system of record, not in Redis
        rows = conn.execute("SELECT id, region, delivery FROM targets ORDER BY id").fetchall()
    assert rows == [("db-1", "eu", "push")]


def test_a_bad_inventory_names_file_field_and_reason(tmp_path: Path, iso: Isolated) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "targets": [
                    {"id": "a", "region": "eu", "environment": "p", "address": "local:///a"},
                    {"id": "a", "region": "eu", "environment": "p", "address": "local:///b"},
                    {"id": "b", "region": "e.u", "environment": "p", "address": "local:///c"},
                ]
            }
        )
    )
    done = iso.provision("inventory", "load", str(path))
    assert done.returncode == 2
    assert "inventory.yaml" in done.stderr and "targets.2.region" in done.stderr


def test_a_malformed_selector_is_a_usage_error(iso: Isolated) -> None:
    done = iso.provision("targets", "--selector", "role")
    assert done.returncode == 2 and "'role' is not KEY=VALUE" in done.stderr
