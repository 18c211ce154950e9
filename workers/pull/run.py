"""One pull run's decisions, with no network: supersede, reject, converge, drift, offline.

The agent (`agent.py`) owns the loop and the connection; it hands each check-in reply (or
the lack of one) to a `PullRun`, which decides what to converge, converges it under the
target's lock and builds the outcome. Nothing here talks to the control plane, so the
decisions can be exercised in-process.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from contracts import ContractError, ErrorInfo, OutcomeEvent, OutcomeStatus, Target
from contracts.changes import utcnow
from contracts.checkins import CheckinReply
from contracts.controller_signatures import SignatureRefused, check_state
from contracts.telemetry import current_trace_id
from contracts.truth import RenderedState
from workers.engine.convergence import Convergence, converge
from workers.engine.hosts import TargetError
from workers.engine.journal import Journal
from workers.engine.target_lock import TargetLocked, held
from workers.pull.own_root import foreign, own_address
from workers.pull.state import AgentState, LastApplied

#: Statuses after which a run counts as a success (exit code 0 with --once).
GOOD = {
    OutcomeStatus.CHANGED,
    OutcomeStatus.CONVERGED,
    OutcomeStatus.DRIFTED,
    OutcomeStatus.SUPERSEDED,
}


@dataclass(frozen=True)
class PullResult:
    """What one run did.

    Args:
        kind: `reported` (checked in and reported), `unassigned` (nothing to converge),
            `offline` (converged the cache, outcome kept), `refused` or `busy`.
        outcome: The outcome, when something was converged or superseded.
        message: One line for people.
    """

    kind: str
    outcome: OutcomeEvent | None
    message: str

    @property
    def ok(self) -> bool:
        if self.outcome is not None:
            return self.outcome.status in GOOD
        return self.kind == "unassigned"


@dataclass
class PullRun:
    """How one agent's runs decide: its target, its root, its mode and its local state."""

    target_id: str
    worker: str
    state: AgentState
    root: Path | None
    report_only: bool
    interval_s: float
    patience_s: float
    stopping: threading.Event
    #: The address the credentials were enrolled with (workers.pull.own_root).
    enrolled: str | None = None
    #: The controller's public key (from enrollment): only states it signed are converged.
    #: None converges nothing.
    controller_key: Ed25519PublicKey | None = None

    def act(
        self, reply: CheckinReply, applied: LastApplied | None, started: datetime
    ) -> PullResult:
        """The reply of an admitted check-in: supersede, reject, or converge what it assigns.

        The outcome carries the reply's sequence back, so the control plane orders this
        target's outcomes by what it handed out, never by this machine's clock.
        """
        result = self._act(reply, applied, started)
        if result.outcome is None or reply.sequence is None:
            return result
        return replace(
            result, outcome=result.outcome.model_copy(update={"sequence": reply.sequence})
        )

    def _act(
        self, reply: CheckinReply, applied: LastApplied | None, started: datetime
    ) -> PullResult:
        target = self.rooted_target(reply.target, applied)
        refused = foreign(reply.target, self.root, self.enrolled)
        if refused is not None:
            if reply.revision is None:
                return PullResult("refused", None, refused)
            change_id = reply.change_id or f"pull-{target.id}"
            event = self.event(
                target, change_id, reply.revision, started, status=OutcomeStatus.REJECTED
            )
            error = ErrorInfo(type="ForeignRoot", message=refused, transient=False)
            return PullResult("refused", event.model_copy(update={"error": error}), refused)
        if reply.revision is None or reply.state is None:
            return PullResult("unassigned", None, "no revision assigned; nothing to converge")
        change_id = reply.change_id or f"pull-{target.id}"
        forged = self.unsigned(reply)
        if forged is not None:  # before anything is compared, parsed or applied
            error = ErrorInfo(type="BadSignature", message=forged, transient=False)
            event = self.event(
                target, change_id, reply.revision, started, status=OutcomeStatus.REJECTED
            )
            return PullResult("refused", event.model_copy(update={"error": error}), forged)
        newest = self.applied_revision(target, applied)
        if newest is not None and reply.revision < newest:
            event = self.event(
                target, change_id, reply.revision, started, status=OutcomeStatus.SUPERSEDED
            )
            return PullResult(
                "reported",
                event,
                f"revision {reply.revision} superseded: revision {newest} is applied",
            )
        try:
            rendered = RenderedState.model_validate_json(reply.state)
        except ValidationError as exc:
            # Field and reason only: pydantic's own text quotes the input (maybe a secret).
            problem = str(ContractError.from_validation("rendered state", exc))
            error = ErrorInfo(type="ContractError", message=problem, transient=False)
            event = self.event(
                target, change_id, reply.revision, started, status=OutcomeStatus.REJECTED
            )
            event = event.model_copy(update={"error": error})
            return PullResult("reported", event, f"revision {reply.revision}: invalid state")
        same = applied is not None and applied.revision == reply.revision
        convergence = converge(target, rendered.desired_state(), dry_run=self.report_only)
        event = self.converged_event(target, change_id, reply.revision, started, convergence, same)
        if not self.report_only and convergence.status.ok:
            self.state.save(
                LastApplied(
                    revision=reply.revision,
                    change_id=change_id,
                    state=reply.state,
                    target=target,
                    sequence=reply.sequence,
                )
            )
            with contextlib.suppress(TargetError):
                Journal(target).applied_revision(reply.revision)
        return PullResult("reported", event, line(event))

    def unsigned(self, reply: CheckinReply) -> str | None:
        """Why the reply's state is not the controller's (refused), or None when its
        signature, made when it was rendered, verifies for this target and revision."""
        if self.controller_key is None:
            return "no controller public key in the credentials: re-enroll the target"
        assert reply.state is not None and reply.revision is not None
        try:
            check_state(
                self.controller_key,
                self.target_id,
                reply.revision,
                reply.state.encode(),
                reply.state_signature,
            )
        except SignatureRefused as exc:
            return str(exc)
        return None

    def locked(
        self, known: Target | None, applied: LastApplied | None
    ) -> contextlib.AbstractContextManager[None]:
        """The target's own lock, waited for within the agent's patience (push holds it too)."""
        target = self.rooted_target(known, applied)
        create = not self.report_only
        return held(target, wait_s=self.patience_s, create=create, stopping=self.stopping)

    @staticmethod
    def applied_revision(target: Target, applied: LastApplied | None) -> int | None:
        """The newest revision the target has applied, by this agent or by a push.

        The target's journal is the one record push and pull share, so neither takes a
        target back behind what the other applied.
        """
        try:
            journal = Journal(target).revision()
        except TargetError:
            journal = None
        known = [r for r in (journal, applied.revision if applied else None) if r is not None]
        return max(known, default=None)

    def offline(self, applied: LastApplied | None, started: datetime, reason: str) -> PullResult:
        """No control plane: converge the last applied revision from the cache, keep the outcome."""
        if applied is None:
            return PullResult("offline", None, f"{reason}; nothing applied yet to fall back on")
        rendered = RenderedState.model_validate_json(applied.state)
        target = self.rooted_target(None, applied)
        try:
            with self.locked(None, applied):
                convergence = converge(target, rendered.desired_state(), dry_run=self.report_only)
        except TargetLocked as exc:
            return PullResult("busy", None, f"{reason}; {exc}")
        event = self.converged_event(
            target, applied.change_id, applied.revision, started, convergence, same=True
        )
        # The cached state's own sequence: received later than its first outcome, it ranks
        # above it, and below anything the control plane handed out since.
        event = event.model_copy(update={"sequence": applied.sequence})
        self.state.keep(target.routing_key, event)
        return PullResult("offline", event, f"{reason}; from the cache: {line(event)} (kept)")

    def converged_event(
        self,
        target: Target,
        change_id: str,
        revision: int,
        started: datetime,
        convergence: Convergence,
        same: bool,
    ) -> OutcomeEvent:
        """The outcome of a convergence; at the revision already applied, a change is drift."""
        changed = any(r.status == "changed" for r in convergence.resources)
        event = self.event(target, change_id, revision, started, status=convergence.status)
        return event.model_copy(
            update={
                "resources": convergence.resources,
                "error": convergence.error,
                "drift": same and changed,
            }
        )

    def event(
        self, target: Target, change_id: str, revision: int, started: datetime, *, status: str
    ) -> OutcomeEvent:
        """A fresh outcome of this run (delivery `pull`), without resources yet."""
        return OutcomeEvent(
            outcome_id=str(uuid.uuid4()),
            change_id=change_id,
            target=target.id,
            status=OutcomeStatus(status),
            worker=self.worker,
            started_at=started,
            finished_at=utcnow(),
            dry_run=self.report_only,
            delivery="pull",
            revision=revision,
            interval_s=self.interval_s,
            trace_id=current_trace_id(),
        )

    def rooted_target(self, known: Target | None, applied: LastApplied | None) -> Target:
        """The target to converge: as the control plane knows it, rooted where we run.

        The root is the agent's own (`own_root.own_address`: `--root`, else the enrolled
        `local://` address, else `/`), whatever address the reply names.
        """
        base = known or (applied.target if applied else None)
        if base is None:
            base = Target(id=self.target_id, region="pull", environment="pull", address="local:///")
        return base.model_copy(update={"address": own_address(self.root, self.enrolled)})


def line(event: OutcomeEvent) -> str:
    """One line for people: the revision, the status, what changed, drift and the error."""
    changed = [r.path for r in event.changes]
    text = f"revision {event.revision}: {event.status.value}"
    if changed:
        text += f" ({', '.join(changed)})"
    if event.drift:
        text += " [drift]"
    if event.error is not None:
        text += f": {event.error.message.splitlines()[0]}"
    return text
