"""Loading a source of truth: the example validates; bad input is refused as a whole."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from contracts import ExitCode
from producers.truth.errors import SourceInvalid
from producers.truth.source import load
from tests.producers.truth.conftest import EXAMPLE, edit


def problems(directory: Path) -> list[tuple[str, str, str]]:
    with pytest.raises(SourceInvalid) as caught:
        load(directory)
    assert caught.value.exit_code == ExitCode.INPUT
    return [(p.file, p.field, p.reason) for p in caught.value.items]


def test_the_example_validates() -> None:
    bundle = load(EXAMPLE)
    assert len(bundle.inventory.targets) == 7
    assert set(bundle.roles) == {"base", "web", "db"}
    assert set(bundle.environments) == {"dev", "staging", "prod"}
    assert len(bundle.waivers) == 1


def test_every_problem_is_listed_by_file_and_field(truth_dir: Path) -> None:
    def inventory(data: dict) -> None:
        data["targets"][1]["roles"] = ["base", "cache"]  # unknown role
        data["targets"][2]["id"] = data["targets"][0]["id"]  # duplicate id

    def waivers(data: dict) -> None:
        del data["waivers"][0]["owner"]
        del data["waivers"][0]["expires_at"]

    edit(truth_dir / "inventory.yaml", inventory)
    edit(truth_dir / "waivers.yaml", waivers)
    (truth_dir / "environments" / "qa.yaml").write_text("values: {a: 1}\n")

    found = problems(truth_dir)
    fields = {(file, field) for file, field, _ in found}
    assert fields == {
        ("inventory.yaml", "targets.1.roles.1"),
        ("inventory.yaml", "targets.2.id"),
        ("environments/qa.yaml", ""),
        ("waivers.yaml", "waivers.0.owner"),
        ("waivers.yaml", "waivers.0.expires_at"),
    }
    reasons = " | ".join(reason for _, _, reason in found)
    assert "unknown role 'cache'" in reasons
    assert "duplicate target id 'web-eu-dev'" in reasons
    assert "unknown environment 'qa'" in reasons


def test_the_message_names_the_directory_file_field_and_reason(truth_dir: Path) -> None:
    edit(truth_dir / "inventory.yaml", lambda d: d["targets"][0].update(roles=["nope"]))
    with pytest.raises(SourceInvalid) as caught:
        load(truth_dir)
    text = str(caught.value)
    assert "no revision was stored" in text
    assert f"{truth_dir}/inventory.yaml: targets.0.roles.0: unknown role 'nope'" in text


def test_two_roles_declaring_one_resource_clash(truth_dir: Path) -> None:
    edit(
        truth_dir / "roles" / "web.yaml",
        lambda d: d["resources"].append({"kind": "file", "path": "/etc/motd", "content": "x"}),
    )
    found = problems(truth_dir)
    assert {(f, fld) for f, fld, _ in found} == {
        ("inventory.yaml", f"targets.{i}.roles") for i in range(4)
    }
    assert "'/etc/motd' is declared by role 'base' and role 'web'" in found[0][2]


def test_a_waiver_must_cover_something_real(truth_dir: Path) -> None:
    def waivers(data: dict) -> None:
        first = data["waivers"][0]
        data["waivers"] += [
            {**first, "selector": {"targets": ["ghost"]}},
            {**first, "selector": {"environment": "nowhere"}},
            {**first, "selector": {"environment": "dev"}, "resource": "/etc/db.conf"},
            {**first, "owner": "  "},
            dict(first),  # same selector and resource as the first
        ]

    edit(truth_dir / "waivers.yaml", waivers)
    found = {(f, fld) for f, fld, _ in problems(truth_dir)}
    assert found == {
        ("waivers.yaml", "waivers.4.owner"),
    }, "a waiver file with a broken waiver is reported alone"
    edit(truth_dir / "waivers.yaml", lambda d: d["waivers"].pop(4))
    found = {(f, fld) for f, fld, _ in problems(truth_dir)}
    assert found == {
        ("waivers.yaml", "waivers.1.selector.targets"),
        ("waivers.yaml", "waivers.2.selector"),
        ("waivers.yaml", "waivers.3.resource"),
        ("waivers.yaml", "waivers.4"),
    }


def test_stray_files_and_bad_yaml_are_named(truth_dir: Path) -> None:
    (truth_dir / "roles" / "cache.yml").write_text("resources: []\n")
    (truth_dir / "environments" / "prod.yaml").write_text("values: [unclosed\n")
    found = {(f, fld) for f, fld, _ in problems(truth_dir)}
    assert found == {("roles/cache.yml", ""), ("environments/prod.yaml", "")}


def test_a_missing_inventory_is_named(truth_dir: Path) -> None:
    (truth_dir / "inventory.yaml").unlink()
    assert problems(truth_dir)[0][:2] == ("inventory.yaml", "")


def test_optional_parts_may_be_absent(truth_dir: Path) -> None:
    (truth_dir / "waivers.yaml").unlink()
    for path in (truth_dir / "environments").iterdir():
        path.unlink()
    bundle = load(truth_dir)
    assert bundle.waivers == () and bundle.environments == {}


#: One edit, the one problem it makes: (file, the edit, the field named, words of the reason).
ONE_PROBLEM = [
    pytest.param(
        "roles/db.yaml",
        lambda d: d["resources"][1].update(mode="999"),
        "resources.1.file.mode",
        "octal",
        id="a resource that breaks its model",
    ),
    pytest.param(
        "roles/db.yaml",
        lambda d: d["resources"].append(d["resources"][0]),
        "resources.2",
        "first at resources.0",
        id="a duplicate in one file",
    ),
    pytest.param(
        "waivers.yaml",
        lambda d: d["waivers"][0].update(expires_at="2099-01-01"),
        "waivers.0.expires_at",
        "timezone",
        id="an expiry without a timezone",
    ),
    pytest.param(
        "roles/base.yaml",
        lambda d: d["resources"][1].update(template="{{ target.id "),
        "resources.1.template",
        "syntax error",
        id="template syntax, checked at publish",
    ),
]


@pytest.mark.parametrize(("path", "change", "field", "words"), ONE_PROBLEM)
def test_one_bad_edit_is_named_by_file_field_and_reason(
    truth_dir: Path, path: str, change: Callable[[Any], Any], field: str, words: str
) -> None:
    edit(truth_dir / path, change)
    [(file, named, reason)] = problems(truth_dir)
    assert (file, named) == (path, field)
    assert words in reason
