"""Each page answers, with what it promises; bad ids and unknown sections are refused
with a reason, never a traceback."""

from __future__ import annotations

from contracts import OutcomeStatus
from contracts.inventory import Inventory
from producers.records.compliance import Compliance
from producers.records.inventory import InventoryStore
from producers.records.ledger import Ledger
from tests.isolation import Isolated
from tests.producers.dashboard.conftest import client, outcome, rollout, target


def test_every_page_answers_and_links_its_neighbours(dash: Isolated) -> None:
    InventoryStore(dash.database).load(Inventory(targets=(target("p-1", "prod", "us"),)))
    Compliance(dash.database).record(outcome("p-any", "p-1", OutcomeStatus.CHANGED))
    with client(dash) as browser:
        for path in ("/", "/compliance", "/dead-letters", "/audit"):
            page = browser.get(path)
            assert page.status_code == 200, (path, page.text)
            assert 'href="/dead-letters"' in page.text and "/static/dashboard.js" in page.text
        compliance = browser.get("/compliance").text
        assert 'data-group="prod/us"' in compliance and 'data-live="compliance"' in compliance
        assert browser.get("/static/dashboard.js").status_code == 200
        assert browser.get("/healthz").text == "ok"


def test_a_trace_takes_a_unique_prefix_and_refuses_an_unknown_or_ambiguous_one(
    dash: Isolated,
) -> None:
    cid = rollout(dash.database, [["t-1"]])
    rollout(dash.database, [["t-2"]])  # another id starting with `dash-`
    Ledger(dash.database).record(outcome(cid, "t-1", OutcomeStatus.CHANGED))
    with client(dash) as browser:
        page = browser.get(f"/trace/{cid[:18]}")
        assert page.status_code == 200 and cid in page.text
        assert 'data-kind="outcome"' in page.text
        assert browser.get("/trace/no-such-change").status_code == 404
        ambiguous = browser.get("/trace/dash-")
        assert ambiguous.status_code == 400 and "type more of the id" in ambiguous.text
        too_long = browser.get(f"/trace/{cid}", params={"target": "x" * 500})
        assert too_long.status_code == 400 and "target" in too_long.text


def test_the_event_stream_takes_only_known_sections(dash: Isolated) -> None:
    with client(dash) as browser:
        for query in ("", "?section=secrets", "?section=rollouts&section=nope"):
            refused = browser.get(f"/events{query}")
            assert refused.status_code == 400 and "rollouts" in refused.text
