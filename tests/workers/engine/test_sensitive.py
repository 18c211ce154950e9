"""`sensitive` is a property of the path: no outcome shows content, and secrets are 0600.

Engine-only (no services): the engine's outcomes, and the shared redaction every display
and record uses (`contracts.redaction`).
"""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Callable
from pathlib import Path

from contracts import DesiredState, ResourceStatus, Target
from contracts.redaction import has_sensitive, redact, redact_text, sensitive_paths
from tests.workers.engine.conftest import tree_hash
from workers.engine.convergence import Convergence, converge

SECRET = "password=hunter2"


def _shown(result: Convergence) -> str:
    return json.dumps([r.model_dump(mode="json") for r in result.resources])


def test_a_line_on_a_sensitive_files_path_shows_no_diff(
    root: Path, tmp_path: Path, run: Callable[..., Convergence]
) -> None:
    sibling = tmp_path / "sibling"
    sibling.mkdir()
    (sibling / "keep").write_text("x")
    before = tree_hash(sibling)
    secret = {"kind": "file", "path": "/etc/app/secret.env", "content": SECRET + "\n"}
    spelled = {"kind": "line", "path": "/etc//app/./secret.env", "line": "token=s3cr3t"}
    first = run({**secret, "sensitive": True}, spelled, dry_run=True)
    assert "hunter2" not in _shown(first) and "s3cr3t" not in _shown(first)
    assert all(r.diff is None for r in first.resources)
    applied = run({**secret, "sensitive": True}, spelled)
    assert [r.status for r in applied.resources] == [ResourceStatus.CHANGED] * 2
    assert "hunter2" not in _shown(applied) and "s3cr3t" not in _shown(applied)
    written = root / "etc/app/secret.env"
    assert written.read_text() == SECRET + "\ntoken=s3cr3t\n"
    # A dry run of a new line on the same file, marked only by the file: still no diff.
    drift = run({**secret, "sensitive": True}, {**spelled, "line": "more=m0re"}, dry_run=True)
    assert "m0re" not in _shown(drift) and "hunter2" not in _shown(drift)
    assert tree_hash(sibling) == before
    # Without the mark, the same line's dry run does show its diff: the test can fail.
    plain = run({**spelled, "line": "more=m0re"}, dry_run=True)
    assert "m0re" in _shown(plain)


def test_a_sensitive_file_without_a_mode_is_written_0600(
    root: Path, run: Callable[..., Convergence]
) -> None:
    run({"kind": "file", "path": "/secret", "content": SECRET, "sensitive": True})
    assert stat.S_IMODE((root / "secret").stat().st_mode) == 0o600
    (root / "shared").write_text("old")
    (root / "shared").chmod(0o644)
    run({"kind": "file", "path": "/shared", "content": SECRET, "sensitive": True})
    assert stat.S_IMODE((root / "shared").stat().st_mode) == 0o600
    run({"kind": "file", "path": "/open", "content": "x", "mode": "0640", "sensitive": True})
    assert stat.S_IMODE((root / "open").stat().st_mode) == 0o640
    run(
        {"kind": "file", "path": "/made", "content": "", "sensitive": True},
        {"kind": "absent", "path": "/made"},
        {"kind": "line", "path": "/made", "line": SECRET, "create": True, "sensitive": True},
    )
    assert stat.S_IMODE((root / "made").stat().st_mode) == 0o600
    run({"kind": "file", "path": "/plain", "content": "x"})
    assert stat.S_IMODE((root / "plain").stat().st_mode) == 0o644


def _state() -> dict[str, object]:
    return {
        "revision": 1,
        "target": "web-1",
        "desired": {
            "resources": [
                {"kind": "file", "path": "/etc/s", "content": SECRET, "sensitive": True},
                {"kind": "line", "path": "/etc//s", "line": "k=v4lue", "match": "^k="},
                {"kind": "file", "path": "/etc/t", "template": "pw={{ values.db_pw }}"},
                {
                    "kind": "file",
                    "path": "/etc/u",
                    "template": "{{ values.db_user }}",
                    "sensitive": True,
                },
                {"kind": "file", "path": "/etc/plain", "content": "visible"},
            ]
        },
        "values": {"db_pw": "pl41n", "db_user": "admin-ro"},
    }


def test_redact_hides_every_resource_on_a_sensitive_path_with_digest_and_size() -> None:
    document = _state()
    shown = redact(document)
    text = json.dumps(shown)
    for secret in (SECRET, "k=v4lue", "admin-ro"):
        assert secret not in text
    data = SECRET.encode()
    stand_in = f"<sensitive sha256:{hashlib.sha256(data).hexdigest()} {len(data)} bytes>"
    resources = shown["desired"]["resources"]
    assert resources[0]["content"] == stand_in
    assert resources[1]["sensitive"] is True and resources[1]["match"] != "^k="
    assert resources[4]["content"] == "visible"
    assert shown["values"]["db_pw"] == "pl41n"  # only a sensitive template's values hide
    assert "pl41n" in json.dumps(document)  # the original is left as it was
    assert sensitive_paths(resources) == {"/etc/s", "/etc/u"}
    assert has_sensitive(document) and not has_sensitive({"resources": [resources[4]]})


def test_redact_text_hides_json_anywhere_and_unreadable_text_whole() -> None:
    task = json.dumps([[], {"request": {"desired": _state()["desired"]}}, {}])
    assert SECRET not in redact_text(task)
    broken = task[:-5]
    assert SECRET not in redact_text(broken) and "sha256:" in redact_text(broken)
    assert redact_text('{"a": 1}') == '{"a": 1}'


def test_a_sensitive_templates_error_does_not_quote_a_value(target: Target) -> None:
    spec = {"kind": "file", "path": "/t", "template": "{{ values[values.pw] }}"}

    def attempt(sensitive: bool) -> str:
        desired = DesiredState.model_validate(
            {"resources": [{**spec, "sensitive": sensitive}], "values": {"pw": "hunter2x"}}
        )
        result = converge(target, desired)
        assert result.status == "failed"
        return _shown(result) + str(result.error)

    assert "hunter2x" in attempt(False)  # the plain error does quote the value
    assert "hunter2x" not in attempt(True)
