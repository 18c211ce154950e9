"""Waivers in the engine: left alone while valid, enforced after expiry, said so in both cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from contracts import DesiredState, OutcomeStatus, ResourceStatus, Target
from workers.engine.convergence import converge

FILE = {"kind": "file", "path": "/etc/motd", "content": "managed\n"}


def state(expires_at: datetime, selector: dict | None = None) -> DesiredState:
    return DesiredState.model_validate(
        {
            "resources": [FILE, {"kind": "file", "path": "/etc/other", "content": "x\n"}],
            "waivers": [
                {
                    "selector": selector or {},
                    "resource": "/etc/motd",
                    "owner": "ops-oncall",
                    "reason": "hotfix INC-42",
                    "expires_at": expires_at.isoformat(),
                }
            ],
        }
    )


def test_a_waived_resource_is_left_alone_and_reported_excepted(root: Path, target: Target) -> None:
    (root / "etc").mkdir()
    (root / "etc/motd").write_text("hand edited\n")
    until = datetime.now(UTC) + timedelta(days=1)
    result = converge(target, state(until))
    assert (root / "etc/motd").read_text() == "hand edited\n"
    motd, other = result.resources
    assert motd.status == ResourceStatus.EXCEPTED
    assert "ops-oncall" in motd.summary and until.isoformat()[:16] in motd.summary
    assert other.status == ResourceStatus.CHANGED
    assert result.status == OutcomeStatus.CHANGED


def test_after_expiry_enforcement_resumes_and_says_the_waiver_expired(
    root: Path, target: Target
) -> None:
    (root / "etc").mkdir()
    (root / "etc/motd").write_text("hand edited\n")
    result = converge(target, state(datetime.now(UTC) - timedelta(minutes=1)))
    assert (root / "etc/motd").read_text() == "managed\n"
    assert result.resources[0].status == ResourceStatus.CHANGED
    assert result.resources[0].summary.startswith("waiver expired")


def test_a_waiver_for_other_targets_does_not_apply(root: Path, target: Target) -> None:
    result = converge(
        target, state(datetime.now(UTC) + timedelta(days=1), selector={"environment": "prod"})
    )
    assert result.resources[0].status == ResourceStatus.CHANGED
    assert (root / "etc/motd").read_text() == "managed\n"


def test_templates_see_the_environment_values(root: Path, target: Target) -> None:
    desired = DesiredState.model_validate(
        {
            "resources": [
                {
                    "kind": "file",
                    "path": "/etc/app.conf",
                    "template": "port={{ values.port }} env={{ environment }}\n",
                }
            ],
            "values": {"port": 8443},
        }
    )
    assert converge(target, desired).status == OutcomeStatus.CHANGED
    assert (root / "etc/app.conf").read_text() == "port=8443 env=dev\n"
