"""What a process records: nothing when its spans go nowhere (trace ids still carried on),
every span when it exports, even under a parent that recorded nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

TRACE = "0af7651916cd43dd8448eb211c80319c"
RECORDED = f"00-{TRACE}-b7ad6b7169203331-01"  # sampled upstream
UNRECORDED = f"00-{TRACE}-b7ad6b7169203331-00"  # not sampled upstream

PROBE = """
import json, sys
from contracts.telemetry import current_trace_id, sending, setup_tracing, span_from
setup_tracing("probe")
with span_from({"traceparent": sys.argv[1]}, "process q") as span:
    with sending("provision.results", "m1") as headers:
        pass
    print(json.dumps([span.is_recording(), current_trace_id(), headers["traceparent"]]))
"""


def _probe(parent: str, **env: str) -> list[object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, parent],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_process_that_does_not_export_records_nothing_but_carries_the_trace_on() -> None:
    recording, trace_id, sent = _probe(RECORDED)
    assert recording is False
    assert trace_id == TRACE
    assert str(sent).split("-")[1] == trace_id  # the next hop continues the same trace


def test_an_exporting_process_records_under_a_parent_that_recorded_nothing() -> None:
    # Nothing listens on port 9: the spans are recorded, and dropped at export.
    recording, trace_id, _ = _probe(UNRECORDED, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
    assert recording is True
    assert trace_id == TRACE
