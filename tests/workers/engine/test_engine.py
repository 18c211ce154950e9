"""The engine: order and dependencies, readiness before anything applies, target errors."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import get_args

import pytest

from contracts import DesiredState, OutcomeStatus, ResourceSpec, ResourceStatus, Target
from contracts.state import CheckSpec
from tests.workers.engine.conftest import tree_hash
from workers.engine.convergence import Convergence, converge
from workers.engine.readiness import CHECKS
from workers.engine.resources import RESOURCES


def kinds(union: object) -> set[str]:
    models = get_args(get_args(union)[0])
    return {model.model_fields["kind"].default for model in models}


def test_every_spec_kind_has_a_resource_type_and_every_check_an_evaluator() -> None:
    assert kinds(ResourceSpec) == set(RESOURCES)
    assert kinds(CheckSpec) == set(CHECKS)


def test_a_failure_skips_its_dependents_only(root: Path, run: Callable[..., Convergence]) -> None:
    result = run(
        {"kind": "file", "path": "/a", "content": "a"},
        {"kind": "command", "name": "broken", "argv": ["false"]},
        {"kind": "file", "path": "/b", "content": "b", "requires": ["broken"]},
        {"kind": "file", "path": "/c", "content": "c", "requires": ["/b"]},
        {"kind": "file", "path": "/d", "content": "d", "requires": ["/a"]},
    )
    assert [r.status for r in result.resources] == [
        ResourceStatus.CHANGED,
        ResourceStatus.FAILED,
        ResourceStatus.SKIPPED,
        ResourceStatus.SKIPPED,
        ResourceStatus.CHANGED,
    ]
    assert result.resources[2].summary == "requires broken, which failed"
    assert result.resources[3].summary == "requires /b, which was skipped"
    assert result.status == OutcomeStatus.FAILED
    assert result.error is not None and result.error.type == "CommandFailed"
    assert result.error.message.startswith("resources.1 (broken):")
    assert sorted(p.name for p in root.iterdir()) == ["a", "d"]


def test_resources_apply_in_order(root: Path, run: Callable[..., Convergence]) -> None:
    result = run(
        {"kind": "file", "path": "/log", "content": ""},
        {"kind": "command", "argv": ["sh", "-c", "echo one >> log"]},
        {"kind": "line", "path": "/log", "line": "two"},
        {"kind": "command", "argv": ["sh", "-c", "echo three >> log"]},
    )
    assert result.status == OutcomeStatus.CHANGED, result
    assert (root / "log").read_text() == "one\ntwo\nthree\n"


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def web() -> Iterator[str]:
    """A local HTTP server: /ok answers 200, anything else 404."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/ok" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_readiness_checks_pass_then_resources_apply(
    root: Path, run: Callable[..., Convergence], web: str
) -> None:
    (root / "ready").write_text("")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        checks = (
            {"kind": "path_exists", "path": "/ready"},
            {"kind": "tcp_port", "port": listener.getsockname()[1]},
            {"kind": "command", "argv": ["test", "-e", "ready"]},
            {"kind": "http", "url": f"{web}/ok"},
            {"kind": "uptime", "min_s": 0},
        )
        result = run({"kind": "file", "path": "/f", "content": "x"}, checks=checks)
    assert result.status == OutcomeStatus.CHANGED, result
    assert (root / "f").exists()


@pytest.mark.parametrize(
    ("check", "evidence"),
    [
        ({"kind": "path_exists", "path": "/missing"}, "/missing does not exist"),
        ({"kind": "command", "argv": ["sh", "-c", "echo db down >&2; exit 1"]}, "db down"),
        ({"kind": "uptime", "min_s": 10**9}, "below the minimum"),
        ({"kind": "http", "url": "{web}/nope"}, "answered 404"),
        ({"kind": "tcp_port", "port": "{port}"}, "refused"),
    ],
)
def test_readiness_failure_applies_nothing_and_reports_evidence(
    root: Path,
    run: Callable[..., Convergence],
    web: str,
    closed_port: int,
    check: dict[str, object],
    evidence: str,
) -> None:
    check = {
        key: str(value).format(web=web, port=closed_port) if isinstance(value, str) else value
        for key, value in check.items()
    }
    before = tree_hash(root)
    result = run(
        {"kind": "file", "path": "/f", "content": "x"},
        {"kind": "command", "argv": ["touch", "ran"]},
        checks=(check,),
    )
    assert result.status == OutcomeStatus.NOT_READY
    assert result.error is not None and result.error.type == "NotReady"
    assert result.error.transient
    assert evidence in result.error.message and "checks.0" in result.error.message
    assert [r.status for r in result.resources] == [ResourceStatus.SKIPPED] * 2
    assert tree_hash(root) == before


def test_unknown_scheme_and_missing_root_fail_permanently(tmp_path: Path) -> None:
    desired = DesiredState.model_validate({"resources": [{"kind": "file", "path": "/f"}]})
    ssh = Target(id="a", region="r", environment="e", address="ssh://web-1")
    missing = Target(id="a", region="r", environment="e", address=f"local://{tmp_path}/none")
    unsupported = converge(ssh, desired)
    assert unsupported.status == OutcomeStatus.FAILED
    assert unsupported.error is not None and unsupported.error.type == "UnsupportedTarget"
    assert not unsupported.error.transient
    assert [r.status for r in unsupported.resources] == [ResourceStatus.SKIPPED]
    gone = converge(missing, desired)
    assert gone.status == OutcomeStatus.FAILED
    assert gone.error is not None and gone.error.type == "TargetMissing"
    assert not (tmp_path / "none").exists()


def test_an_empty_desired_state_is_converged(run: Callable[..., Convergence]) -> None:
    result = run()
    assert (result.status, result.resources, result.error) == (OutcomeStatus.CONVERGED, (), None)
