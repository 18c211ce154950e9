"""Waivers: add, list and remove, each a new revision; with --dir, waivers.yaml follows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contracts import Selector
from contracts.truth import Waiver
from producers.truth import waivers
from producers.truth.errors import WaiverError
from producers.truth.revisions import RevisionStore
from producers.truth.source import load, validate
from tests.producers.truth.conftest import EXAMPLE

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def web_waiver(**change: object) -> Waiver:
    fields = {
        "selector": Selector(environment="prod", labels={"tier": "web"}),
        "resource": "/etc/app/app.conf",
        "owner": "web-team",
        "reason": "load test",
        "expires_at": NOW + timedelta(days=7),
        **change,
    }
    return Waiver.model_validate(fields)


def test_add_list_remove_each_make_a_new_revision(store: RevisionStore) -> None:
    store.publish(load(EXAMPLE), author="a", message="base")
    added = validate(waivers.add(store.bundle(1), web_waiver(), now=NOW))
    assert store.publish(added, author="a", message="add").revision.number == 2
    assert [w.resource for w in store.bundle(2).waivers] == ["/etc/db.conf", "/etc/app/app.conf"]
    removed, gone = waivers.remove(store.bundle(2), web_waiver().id)
    assert gone == web_waiver()
    assert store.publish(validate(removed), author="a", message="rm").revision.number == 3
    assert store.bundle(3) == store.bundle(1)
    assert store.get(3).content_hash == store.get(1).content_hash


def test_a_duplicate_is_refused_unless_replaced() -> None:
    bundle = waivers.add(load(EXAMPLE), web_waiver(), now=NOW)
    with pytest.raises(WaiverError, match="--replace"):
        waivers.add(bundle, web_waiver(owner="other"), now=NOW)
    replaced = waivers.add(bundle, web_waiver(owner="other"), now=NOW, replace=True)
    assert [w.owner for w in replaced.waivers] == ["dba-team", "other"]


def test_an_expired_waiver_cannot_be_added_but_an_old_one_stays_valid() -> None:
    with pytest.raises(WaiverError, match="already passed"):
        waivers.add(load(EXAMPLE), web_waiver(expires_at=NOW - timedelta(seconds=1)), now=NOW)
    past = waivers.add(load(EXAMPLE), web_waiver(), now=NOW - timedelta(days=30))
    validate(past)  # expired waivers are data: the engine reports them as expired
    assert past.waivers[-1].expired(NOW + timedelta(days=8))


def test_an_unknown_id_names_the_known_ones() -> None:
    with pytest.raises(WaiverError, match=r"no waiver 'w-nope' \(waivers: w-"):
        waivers.remove(load(EXAMPLE), "w-nope")


def test_the_id_ignores_owner_reason_expiry_and_timezone_spelling() -> None:
    base = web_waiver()
    assert base.id == web_waiver(owner="x", reason="y", expires_at=NOW).id
    assert base.id != web_waiver(resource="/etc/motd").id
    local = web_waiver(expires_at="2030-01-08T02:00:00+02:00")
    assert local == base, "one spelling per instant: stored in UTC"


def test_write_round_trips_through_load(truth_dir: Path) -> None:
    bundle = waivers.add(load(truth_dir), web_waiver(), now=NOW)
    waivers.write(truth_dir, bundle.waivers)
    assert load(truth_dir) == bundle
    assert (truth_dir / "waivers.yaml").read_text().startswith("# Waivers")
    assert not list(truth_dir.glob(".waivers.*")), "no temporary file left behind"
