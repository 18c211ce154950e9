"""The engine's spans: recorded where the process traces, skipped (and OpenTelemetry not even
imported) where it does not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from contracts.telemetry import ATTR_STATUS
from workers.engine import spans


def run(probe: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`probe` in a fresh interpreter at the repository's root (its own tracing state)."""
    return subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[3],
        env=env,
    )


def test_the_status_attribute_is_the_one_every_span_uses() -> None:
    assert spans.STATUS == ATTR_STATUS


def test_a_process_that_does_not_trace_gets_untraced_spans() -> None:
    """Without setup_tracing a span records nothing, takes attributes, and lets errors by."""
    probe = (
        "import sys\n"
        "from workers.engine import spans\n"
        "with spans.span('provision apply file', {'provision.resource': '/x'}) as span:\n"
        "    span.set_attribute(spans.STATUS, 'converged')\n"
        "try:\n"
        "    with spans.span('provision apply file'):\n"
        "        raise KeyError('kept')\n"
        "except KeyError:\n"
        "    pass\n"
        "print(span is spans.UNTRACED, 'opentelemetry' in sys.modules)\n"
    )
    done = run(probe)
    assert done.stdout.strip() == "True False", done.stderr


def test_a_process_that_traces_records_the_engine_spans() -> None:
    """After setup_tracing, a span is a real one and ends with its attributes exported."""
    probe = (
        "import os\n"
        "os.environ['PROVISION_TRACE_CONSOLE'] = '1'\n"
        "from contracts.telemetry import setup_tracing\n"
        "from workers.engine import spans\n"
        "setup_tracing('probe')\n"
        "with spans.span('provision apply file', {'provision.resource': '/x'}) as span:\n"
        "    span.set_attribute(spans.STATUS, 'converged')\n"
        "print('untraced' if span is spans.UNTRACED else 'traced')\n"
    )
    done = run(probe)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "traced"
    assert '"name": "provision apply file"' in done.stdout
    assert '"provision.status": "converged"' in done.stdout


def test_a_worker_whose_spans_go_nowhere_opens_no_engine_spans() -> None:
    """setup_tracing without a collector (or console) records nothing: the engine skips its
    per-resource spans there too, while the request's trace id is still carried on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PROVISION_TRACE"))}
    probe = (
        "from contracts.telemetry import setup_tracing, tracing\n"
        "from workers.engine import spans\n"
        "setup_tracing('probe')\n"
        "with spans.span('provision apply file') as span:\n"
        "    pass\n"
        "print(tracing(), span is spans.UNTRACED)\n"
    )
    done = run(probe, env)
    assert done.stdout.strip() == "False True", done.stderr
