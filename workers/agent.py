"""The pull agent: runs on a target, checks in, converges with the engine, reports.

Like a Puppet agent or a scheduled Salt highstate, each run is:

1. a random splay (so a fleet started at once does not check in at once);
2. a check-in over the agent's only, outward connection: the desk admits it, or says
   come back after a delay (honoured, within a bounded patience), or refuses it;
3. supersession: an assigned revision older than the one this target applied is not
   applied (outcome `superseded`); a newer one is applied directly, however many
   revisions were skipped while the target was offline;
4. `workers.engine.converge` on the target's root, as a worker would (readiness checks
   included), or a dry run with `--report-only`;
5. drift: at the revision it already applied, anything the engine had to change (or would
   change) was changed behind the system's back: the outcome says `drift` and lists it;
6. the outcome (delivery `pull`) goes to the outbox on disk, then to `provision.results`;
   the outbox is also flushed at every later successful connection.

When the control plane is unreachable, the agent converges its last applied revision
from its local cache (drift is still found and remediated) and keeps the outcome for
later. Imports nothing from `producers`: the agent talks to the control plane only
through messages.
"""

from __future__ import annotations

import contextlib
import logging
import random
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from contracts import (
    ContractError,
    ErrorInfo,
    OutcomeEvent,
    OutcomeStatus,
    ServiceUnreachable,
    Target,
)
from contracts.changes import utcnow
from contracts.checkins import CheckinReply, CheckinRequest, Credentials
from contracts.truth import RenderedState
from workers.agent_state import AgentState, Applied, load_credentials
from workers.checkin import ControlPlane
from workers.engine import Convergence, converge
from workers.journal import Journal
from workers.target_lock import TargetLocked, held
from workers.targets import TargetError

log = logging.getLogger("provision.agent")

#: Puppet's default runinterval.
DEFAULT_INTERVAL_S = 1800.0
#: Longest a check-in keeps coming back after "retry later" before it gives up this run.
DEFAULT_PATIENCE_S = 300.0
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


class Agent:
    """One target's agent. Build it from its credentials directory, then `run` it."""

    def __init__(
        self,
        directory: Path,
        *,
        root: Path | None = None,
        report_only: bool = False,
        interval_s: float = DEFAULT_INTERVAL_S,
        patience_s: float = DEFAULT_PATIENCE_S,
        credentials: Credentials | None = None,
        target: str | None = None,
    ) -> None:
        self.credentials = credentials or load_credentials(directory)
        #: The target this agent claims; the desk refuses any but the credentials' own.
        self.target_id = target or self.credentials.target
        try:
            CheckinRequest(target=self.target_id, token=self.credentials.token)
        except ValidationError as exc:
            raise ContractError.from_validation("--target", exc) from exc
        self.state = AgentState(directory)
        self.root = root
        self.report_only = report_only
        self.interval_s = interval_s
        self.patience_s = patience_s
        self.worker = f"agent@{socket.gethostname()}"
        self.stopping = threading.Event()

    def stop(self, *_: object) -> None:
        """Finish the run in hand, then return from `run`."""
        self.stopping.set()

    def run(self, *, once: bool, splay_s: float) -> int:
        """Run every interval (after a random splay each time) until stopped.

        Returns:
            With `once`: 0 when the run succeeded, 1 otherwise. Else 0 once stopped.
        """
        while not self.stopping.is_set():
            if splay_s > 0 and self.stopping.wait(random.uniform(0, splay_s)):
                break
            result = self.check_in_once()
            print(f"{result.kind}: {result.message}", flush=True)
            if once:
                return 0 if result.ok else 1
            self.stopping.wait(self.interval_s)
        return 0

    def check_in_once(self) -> PullResult:
        """One run: check in, converge, report; converge the cache when offline."""
        started = utcnow()
        applied = self.state.applied()
        try:
            with ControlPlane(self.credentials) as plane:
                self._flush(plane)
                reply = self._ask(plane, applied)
                if reply.refused is not None:
                    return PullResult("refused", None, f"check-in refused: {reply.refused}")
                if not reply.admitted:
                    return PullResult("busy", None, "the control plane kept asking to wait")
                try:
                    with self._locked(reply.target, applied):
                        result = self._act(reply, applied, started)
                except TargetLocked as exc:
                    return PullResult("busy", None, str(exc))
                if result.outcome is not None:
                    self._send(plane, result.outcome, self._target(reply.target, applied))
                return result
        except ServiceUnreachable as exc:
            return self._offline(applied, started, str(exc))

    # -- check-in -------------------------------------------------------------------------

    def _ask(self, plane: ControlPlane, applied: Applied | None) -> CheckinReply:
        """Check in, coming back after each retry-after, within `patience_s`."""
        request = CheckinRequest(
            target=self.target_id,
            token=self.credentials.token,
            applied_revision=applied.revision if applied else None,
            report_only=self.report_only,
            interval_s=self.interval_s,
        )
        give_up = time.monotonic() + self.patience_s
        while True:
            reply = plane.check_in(request)
            if reply.admitted or reply.refused is not None:
                return reply
            delay = reply.retry_after_s or 1.0
            if time.monotonic() + delay > give_up or self.stopping.is_set():
                return reply
            log.debug("%s: told to come back in %.2fs", request.target, delay)
            plane.pause(delay, self.stopping)

    def _act(self, reply: CheckinReply, applied: Applied | None, started: datetime) -> PullResult:
        target = self._target(reply.target, applied)
        if reply.revision is None or reply.state is None:
            return PullResult("unassigned", None, "no revision assigned; nothing to converge")
        change_id = reply.change_id or f"pull-{target.id}"
        newest = self._applied_revision(target, applied)
        if newest is not None and reply.revision < newest:
            event = self._event(
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
            event = self._event(
                target, change_id, reply.revision, started, status=OutcomeStatus.REJECTED
            )
            event = event.model_copy(update={"error": error})
            return PullResult("reported", event, f"revision {reply.revision}: invalid state")
        same = applied is not None and applied.revision == reply.revision
        convergence = converge(target, rendered.desired_state(), dry_run=self.report_only)
        event = self._converged(target, change_id, reply.revision, started, convergence, same)
        if not self.report_only and convergence.status.ok:
            self.state.save(
                Applied(
                    revision=reply.revision, change_id=change_id, state=reply.state, target=target
                )
            )
            with contextlib.suppress(TargetError):
                Journal(target).applied_revision(reply.revision)
        return PullResult("reported", event, _line(event))

    def _locked(
        self, known: Target | None, applied: Applied | None
    ) -> contextlib.AbstractContextManager[None]:
        """The target's own lock, waited for within the agent's patience (push holds it too)."""
        target = self._target(known, applied)
        create = not self.report_only
        return held(target, wait_s=self.patience_s, create=create, stopping=self.stopping)

    @staticmethod
    def _applied_revision(target: Target, applied: Applied | None) -> int | None:
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

    # -- offline --------------------------------------------------------------------------

    def _offline(self, applied: Applied | None, started: datetime, reason: str) -> PullResult:
        if applied is None:
            return PullResult("offline", None, f"{reason}; nothing applied yet to fall back on")
        rendered = RenderedState.model_validate_json(applied.state)
        target = self._target(None, applied)
        try:
            with self._locked(None, applied):
                convergence = converge(target, rendered.desired_state(), dry_run=self.report_only)
        except TargetLocked as exc:
            return PullResult("busy", None, f"{reason}; {exc}")
        event = self._converged(
            target, applied.change_id, applied.revision, started, convergence, same=True
        )
        self.state.keep(target.routing_key, event)
        return PullResult("offline", event, f"{reason}; from the cache: {_line(event)} (kept)")

    # -- outcomes -------------------------------------------------------------------------

    def _send(self, plane: ControlPlane, event: OutcomeEvent, target: Target) -> None:
        """Outbox first (it survives a crash), then everything in the outbox."""
        self.state.keep(target.routing_key, event)
        try:
            self._flush(plane)
        except ServiceUnreachable:
            log.warning(
                "outcome %s kept in the outbox: the control plane went away", event.outcome_id
            )

    def _flush(self, plane: ControlPlane) -> None:
        for pending in self.state.pending():
            plane.report(pending.event, pending.routing_key)
            self.state.sent(pending.event)

    def _converged(
        self,
        target: Target,
        change_id: str,
        revision: int,
        started: datetime,
        convergence: Convergence,
        same: bool,
    ) -> OutcomeEvent:
        changed = any(r.status == "changed" for r in convergence.resources)
        event = self._event(target, change_id, revision, started, status=convergence.status)
        return event.model_copy(
            update={
                "resources": convergence.resources,
                "error": convergence.error,
                "drift": same and changed,
            }
        )

    def _event(
        self, target: Target, change_id: str, revision: int, started: datetime, *, status: str
    ) -> OutcomeEvent:
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
        )

    def _target(self, known: Target | None, applied: Applied | None) -> Target:
        """The target to converge: as the control plane knows it, rooted where we run.

        The root is `--root`, else the target's `local://` address, else `/` (the agent
        runs on the machine itself, whatever address push workers use to reach it).
        """
        base = known or (applied.target if applied else None)
        if base is None:
            base = Target(id=self.target_id, region="pull", environment="pull", address="local:///")
        if self.root is not None:
            return base.model_copy(update={"address": f"local://{self.root.absolute()}"})
        if not base.address.startswith("local://"):
            return base.model_copy(update={"address": "local:///"})
        return base


def _line(event: OutcomeEvent) -> str:
    changed = [r.path for r in event.changes]
    text = f"revision {event.revision}: {event.status.value}"
    if changed:
        text += f" ({', '.join(changed)})"
    if event.drift:
        text += " [drift]"
    if event.error is not None:
        text += f": {event.error.message.splitlines()[0]}"
    return text


def run_agent(
    directory: Path,
    *,
    target: str,
    root: Path | None,
    once: bool,
    interval_s: float,
    splay_s: float | None,
    report_only: bool,
) -> int:
    """`provision agent`: SIGTERM and SIGINT finish the run in hand, then stop."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    agent = Agent(
        directory, root=root, report_only=report_only, interval_s=interval_s, target=target
    )
    signal.signal(signal.SIGTERM, agent.stop)
    signal.signal(signal.SIGINT, agent.stop)
    if splay_s is None:
        splay_s = 0.0 if once else interval_s / 10
    return agent.run(once=once, splay_s=splay_s)
