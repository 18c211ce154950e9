"""The dashboard end to end, in a real headless browser (Debian's chromium driven by
Playwright): a rollout with a failing target is started while the page is open, the page
shows its wave counts change without a reload, and the failed target's trace opens."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from producers.processes.commands import dashboard_argv
from producers.processes.supervisor import Child
from tests.isolation import Isolated, provision, wait_until
from tests.pipeline.conftest import change_file, local_target
from tests.services import need

pytestmark = pytest.mark.slow

#: Debian's chromium: `.ci/browser` installs it (no Playwright browser download).
CHROMIUM = Path("/usr/bin/chromium")
#: Every wait on the page, in milliseconds: bounded, never a sleep.
WAIT_MS = 60_000
RESOURCES = [
    {"kind": "directory", "path": "/etc/app", "mode": "0755"},
    {"kind": "file", "path": "/etc/app/app.conf", "content": "port = 8080\n", "mode": "0640"},
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    need(CHROMIUM.exists(), f"{CHROMIUM} is missing: run .ci/browser (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "playwright is not installed: pip install -e '.[dev]'")
        raise
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def dashboard(session_services: Isolated, pipeline: dict[str, Child]) -> str:
    """`provision dashboard` on the pipeline's services, listening; its base URL."""
    port = free_port()
    child = session_services.spawn("dashboard", dashboard_argv(port=port))
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert child.alive(), child.tail()
        return answers(f"{base}/healthz")

    wait_until(up, 60, "the dashboard to answer")
    return base


def test_the_page_follows_a_rollout_live_and_opens_the_failed_target_s_trace(
    tmp_path: Path, services: dict[str, str], dashboard: str, browser: Any
) -> None:
    suffix = tmp_path.name[-6:].lower().replace("_", "-")
    ok_a, ok_b, bad = (f"dash-{suffix}-{n}" for n in ("a", "b", "c-bad"))
    targets = [local_target(tmp_path, name) for name in (ok_a, ok_b, bad)]
    (tmp_path / bad / "etc").mkdir(parents=True)
    (tmp_path / bad / "etc" / "app").write_text("a file in the way of the directory\n")
    # Sorted by id: a canary of one (ok_a), then ok_b and bad, after a pause the page sees.
    rollout = {"waves": [1, "100%"], "pause_s": 4, "max_failures": 0}
    path = change_file(tmp_path, targets, RESOURCES, {"environment": "test"}, rollout)

    page = browser.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(dashboard + "/")
    page.wait_for_selector("#live:not([hidden])")  # the event stream is open
    page.evaluate("window.loadedOnce = 'this page'")  # a reload would forget it

    started = provision("apply", str(path), "--json", env=services, timeout_s=120)
    assert started.returncode == 0, started.stderr
    change_id = json.loads(started.stdout.strip().splitlines()[-1])["change_id"]
    rollout_el = f'[data-rollout="{change_id}"]'
    # The rollout appears, the canary's wave completes while the second wave is still all
    # pending (the pause), then the second wave's counts change: all without a reload.
    page.wait_for_selector(f'{rollout_el} tr[data-wave="0"][data-done="1"][data-pending="0"]')
    page.wait_for_selector(f'{rollout_el} tr[data-wave="1"][data-pending="2"]')
    page.wait_for_selector(
        f'{rollout_el} tr[data-wave="1"][data-pending="0"][data-done="1"][data-failed="1"]'
    )
    page.wait_for_selector(f'{rollout_el}[data-state="halted"] [data-halt]')
    assert page.evaluate("window.loadedOnce") == "this page", "the page was reloaded"

    link = page.wait_for_selector(f'[data-failures="{change_id}"] a.trace:text-is("{bad}")')
    assert link is not None
    group = page.inner_text(f'[data-failures="{change_id}"]')
    assert "a file is in the way" in group and ok_b not in group
    link.click()
    page.wait_for_url(f"**/trace/{change_id}?target={bad}")
    outcome = page.wait_for_selector('tr[data-kind="outcome"]')
    assert outcome is not None and "failed" in outcome.inner_text()
    assert page.inner_text("[data-target]") == bad
    kinds = page.eval_on_selector_all("tr[data-kind]", "rows => rows.map(r => r.dataset.kind)")
    assert kinds[0] == "received" and "published" in kinds and "applied" in kinds
    assert "a file is in the way" in page.inner_text("table.timeline")
    page.close()
