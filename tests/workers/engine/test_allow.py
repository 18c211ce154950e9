"""The worker's allow rule, in-process: hostile spellings of an address cannot escape a
pattern, `local:///` needs naming, and a link out of an allowed root is caught on open."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts import Target
from workers.engine.hosts import NotAllowed, connect
from workers.engine.hosts import allow as allow_module
from workers.engine.hosts.allow import AllowRule, normalise

SRV = AllowRule.parse(["local:///srv/*"])


@pytest.mark.parametrize(
    ("address", "canonical"),
    [
        ("local:///srv/a", "local:///srv/a"),
        ("local:///srv/a/", "local:///srv/a"),
        ("local:///srv//a", "local:///srv/a"),
        ("local:///srv/./a", "local:///srv/a"),
        ("local:///srv/../etc", "local:///etc"),
        ("local:///srv/a/../../..", "local:///"),
        ("local:///srv/%2e%2e/etc", "local:///etc"),
        ("local:///srv/%2E%2E/etc", "local:///etc"),
        ("local:///srv%2f..%2fetc", "local:///etc"),
        ("LOCAL:///srv/a", "local:///srv/a"),
        ("local://localhost/srv/a", "local:///srv/a"),
        ("local://LocalHost/srv/a", "local:///srv/a"),
        ("local:////srv/a", "local:///srv/a"),
        ("local:///", "local:///"),
    ],
)
def test_addresses_are_normalised_before_matching(address: str, canonical: str) -> None:
    assert normalise(address) == canonical


@pytest.mark.parametrize(
    "address",
    [
        "local:///srv/a",
        "local:///srv/a/",
        "local:///srv//a",
        "local://localhost/srv/a",
        "LOCAL:///srv/a",
        "local:///srv/b/../a",
        "local:///srv/%61",
    ],
)
def test_an_allowed_root_in_any_spelling_is_allowed(address: str) -> None:
    assert SRV.why_not(address) is None


@pytest.mark.parametrize(
    "address",
    [
        "local:///",
        "local://",
        "local:///srv",
        "local:///srv/",
        "local:///srv/..",
        "local:///srv/../etc",
        "local:///srv/a/../../etc",
        "local:///srv/%2e%2e/etc",
        "local:///srv/%2E%2E",
        "local:///srv%2f..%2fetc",
        "local:///srv/a/b",
        "local:///srv/a%2fb",
        "local:///SRV/a",
        "local:///srvx/a",
        "local:///proc/self/root",
        "local:///srv/a?x=1",
        "local:///srv/a#frag",
        "local:///srv/a%00",
        "local:///srv/a%0a",
        "local:///srv/a\\..\\..",
        "local:///srv/%ff",
        "local://evil.example/srv/a",
        "local://localhost:22/srv/a",
        "ssh://host/srv/a",
        "file:///srv/a",
        "LOCAL:///etc",
        "srv/a",
    ],
)
def test_anything_else_is_refused_with_the_address_named(address: str) -> None:
    why = SRV.why_not(address)
    assert why is not None and (repr(address) in why or address in why), why
    with pytest.raises(NotAllowed):
        SRV.check(address)


def test_the_root_itself_is_allowed_only_by_naming_it() -> None:
    for pattern in ("local:///*", "local:///**", "local:///**/", "local:///*/*"):
        assert AllowRule.parse([pattern]).why_not("local:///") is not None, pattern
    with pytest.raises(ValueError, match="absolute"):
        AllowRule.parse(["local://**"])
    assert AllowRule.parse(["local:///"]).why_not("local:///") is None
    assert AllowRule.parse(["local:///"]).why_not("local:///etc") is not None


def test_double_star_crosses_segments_and_single_star_does_not() -> None:
    deep = AllowRule.parse(["local:///srv/**"])
    assert deep.why_not("local:///srv/a/b/c") is None
    assert deep.why_not("local:///srv") is not None
    assert deep.why_not("local:///srv/../etc/x") is not None
    assert AllowRule.parse(["local:///srv/t-*"]).why_not("local:///srv/t-1/x") is not None


def test_patterns_are_normalised_and_read_from_the_environment_value() -> None:
    rule = AllowRule.from_env_value(" local:///srv/a/ , LOCAL://localhost/opt//b,,")
    assert rule.patterns == ("local:///srv/a", "local:///opt/b")
    assert rule.why_not("local:///opt/b") is None
    assert not AllowRule.from_env_value("") and not AllowRule.from_env_value(" , ")
    with pytest.raises(ValueError, match="allow pattern 'srv/a'"):
        AllowRule.parse(["srv/a"])


@pytest.fixture
def installed(tmp_path: Path) -> Iterator[Path]:
    """This process as a worker allowed `tmp_path/allowed/*` (the rule `connect` checks)."""
    (tmp_path / "allowed").mkdir()
    before = allow_module.installed()
    allow_module.install(AllowRule.parse([f"local://{tmp_path}/allowed/*"]))
    yield tmp_path
    allow_module._installed = before


def spec(address: str) -> Target:
    return Target(id="t", region="eu", environment="test", address=address)


def test_connect_refuses_a_link_that_leads_out_of_an_allowed_root(installed: Path) -> None:
    (installed / "allowed/ok").mkdir()
    (installed / "outside").mkdir()
    os.symlink(installed / "outside", installed / "allowed/link")
    connect(spec(f"local://{installed}/allowed/ok")).close()
    with pytest.raises(NotAllowed, match="really"):
        connect(spec(f"local://{installed}/allowed/link"))
    with pytest.raises(NotAllowed, match="outside this worker's --allow rule"):
        connect(spec(f"local://{installed}/outside"))
    with pytest.raises(NotAllowed):
        connect(spec("local:///"))
