"""Engine-side limits (issue 10 items 2 and 6): templates, content, command timeouts, and
commands that end with everything they started.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from contracts import DesiredState, OutcomeStatus, ResourceStatus
from contracts.engine_limits import COMMAND_TIMEOUT_S, FILE_CONTENT_BYTES, TEMPLATE_RENDER_S
from tests.workers.engine.conftest import tree_hash
from workers.engine.convergence import Convergence

#: Slow (waits out command timeouts by design), so not in the quick loop, `pytest -m "not slow"`.
pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("template", "limit"),
    [
        ("{{ 'x' * 100000000 }}", "TEMPLATE_OUTPUT_BYTES"),
        ("{% for i in range(9999) %}{{ 'x' * 9999 }}{% endfor %}", "TEMPLATE_OUTPUT_BYTES"),
        (
            "{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}",
            "TEMPLATE_RENDER_S",
        ),
        ("{% for i in range(10**9) %}{% endfor %}", "TEMPLATE_RANGE_ITEMS"),
        ("{{ '%1000000000d' | format(1) }}", "TEMPLATE_OUTPUT_BYTES"),
        ("{{ '{:>1000000000}'.format(1) }}", "TEMPLATE_OUTPUT_BYTES"),
        ("{{ '%1000000000d' % 1 }}", "TEMPLATE_OUTPUT_BYTES"),
        ("{{ 'x'.center(1000000000) }}", "TEMPLATE_OUTPUT_BYTES"),
        ("{{ 'x' | indent(1000000000) }}", "TEMPLATE_OUTPUT_BYTES"),
    ],
)
def test_templates_that_would_flood_or_spin_are_refused_before_any_change(
    root: Path, run: Callable[..., Convergence], template: str, limit: str
) -> None:
    before = tree_hash(root)
    started = time.monotonic()
    result = run({"kind": "file", "path": "/out", "template": template})
    assert time.monotonic() - started < TEMPLATE_RENDER_S + 5
    assert result.status == OutcomeStatus.FAILED
    assert result.error is not None and limit in result.error.message
    assert tree_hash(root) == before


def test_templates_within_the_limits_still_render(
    root: Path, run: Callable[..., Convergence]
) -> None:
    template = "{% for i in range(3) %}{{ '%02d' % i }}{{ '{:>3}'.format(i) }}{% endfor %}\n"
    result = run({"kind": "file", "path": "/out", "template": template})
    assert result.status == OutcomeStatus.CHANGED, result.error
    assert (root / "out").read_text() == "00  001  102  2\n"


def test_file_content_above_the_limit_is_refused_by_the_contract() -> None:
    resource = {"kind": "file", "path": "/f", "content": "x" * (FILE_CONTENT_BYTES + 1)}
    with pytest.raises(ValidationError, match="FILE_CONTENT_BYTES"):
        DesiredState.model_validate({"resources": [resource]})


def test_command_timeouts_have_a_ceiling() -> None:
    resource = {"kind": "command", "argv": ["true"], "timeout_s": COMMAND_TIMEOUT_S + 1}
    with pytest.raises(ValidationError, match="timeout_s"):
        DesiredState.model_validate({"resources": [resource]})


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("timeout_s", [3.0, 30.0])
def test_a_command_ends_with_everything_it_started_even_in_another_session(
    root: Path, run: Callable[..., Convergence], timeout_s: float
) -> None:
    """At the timeout (or when the command exits), a `setsid` grandchild is killed too."""
    times_out = timeout_s < 5
    script = "setsid sh -c 'echo $$ > bg.pid; exec sleep 1000' & "
    script += "while [ ! -s bg.pid ]; do sleep 0.05; done" + ("; sleep 1000" if times_out else "")
    started = time.monotonic()
    result = run({"kind": "command", "argv": [script], "shell": True, "timeout_s": timeout_s})
    assert time.monotonic() - started < 25
    outcome = result.resources[0]
    assert outcome.status == (ResourceStatus.FAILED if times_out else ResourceStatus.CHANGED)
    assert ("timed out" in outcome.summary) == times_out, outcome
    pid = int((root / "bg.pid").read_text())
    deadline = time.monotonic() + 10
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    survived = not _gone(pid)
    if survived:
        os.kill(pid, 9)
    assert not survived, f"the setsid child {pid} survived its command"


@pytest.mark.parametrize(
    "check",
    [
        {"kind": "tcp_port", "host": "192.0.2.1", "port": 22},
        {"kind": "http", "url": "http://192.0.2.1/health"},
    ],
)
def test_readiness_probes_reach_only_the_targets_own_host(
    root: Path, run: Callable[..., Convergence], check: dict[str, object]
) -> None:
    before = tree_hash(root)
    result = run({"kind": "file", "path": "/f", "content": "x"}, checks=(check,))
    assert result.status == OutcomeStatus.NOT_READY
    assert result.error is not None and "only the target's own host" in result.error.message
    assert tree_hash(root) == before
