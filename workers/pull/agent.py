"""The pull agent: runs on a target, checks in, converges with the engine, reports.

This module is the loop and the network; `run.py` holds one run's decisions.

Like a Puppet agent or a scheduled Salt highstate, each run is:

1. a random splay (so a fleet started at once does not check in at once);
2. a check-in over the agent's only, outward connection, signed with the enrollment key
   (a fresh nonce and time each attempt; no secret on the wire: `signing.py`): the desk
   admits it, or says come back after a delay (honoured, within a bounded patience), or
   refuses it;
3. supersession: an assigned revision older than the one this target applied is not
   applied (outcome `superseded`); a newer one is applied directly, however many
   revisions were skipped while the target was offline;
4. `workers.engine.convergence.converge` on the target's root, as a worker would (readiness checks
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

import logging
import random
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from contracts import (
    ContractError,
    OutcomeEvent,
    ServiceUnreachable,
    Target,
)
from contracts.changes import utcnow
from contracts.checkins import CheckinReply, CheckinRequest, Credentials
from contracts.signatures import BadKey, load_public_key
from contracts.telemetry import ATTR_CHANGE_ID, ATTR_STATUS, ATTR_TARGET, setup_tracing, tracer
from workers.engine.target_lock import TargetLocked
from workers.pull.control_plane import ControlPlane
from workers.pull.run import PullResult, PullRun
from workers.pull.signing import signed_checkin
from workers.pull.state import AgentState, LastApplied, load_credentials

log = logging.getLogger("provision.agent")

#: Puppet's default runinterval.
DEFAULT_INTERVAL_S = 1800.0
#: Longest a check-in keeps coming back after "retry later" before it gives up this run.
DEFAULT_PATIENCE_S = 300.0


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
            signed_checkin(self.credentials, self.target_id)
        except ValidationError as exc:
            raise ContractError.from_validation("--target", exc) from exc
        self.controller_key = controller_key_of(self.credentials)
        self.state = AgentState(directory)
        self.root = root
        self.report_only = report_only
        self.interval_s = interval_s
        self.patience_s = patience_s
        self.worker = f"agent@{socket.gethostname()}"
        self.stopping = threading.Event()
        self.pull_run = PullRun(
            target_id=self.target_id,
            worker=self.worker,
            state=self.state,
            root=root,
            report_only=report_only,
            interval_s=interval_s,
            patience_s=patience_s,
            stopping=self.stopping,
            enrolled=self.credentials.address,
            controller_key=self.controller_key,
        )

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
        """One run: check in, converge, report; converge the cache when offline.

        One run is one trace (the controller links it to the revision's rollout)."""
        attributes = {ATTR_TARGET: self.target_id}
        with tracer().start_as_current_span("provision checkin", attributes=attributes) as span:
            result = self._check_in_once()
            span.set_attribute(ATTR_STATUS, result.kind)
            if result.outcome is not None:
                span.set_attribute(ATTR_CHANGE_ID, result.outcome.change_id)
            return result

    def _check_in_once(self) -> PullResult:
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
                    with self.pull_run.locked(reply.target, applied):
                        result = self.pull_run.act(reply, applied, started)
                except TargetLocked as exc:
                    return PullResult("busy", None, str(exc))
                if result.outcome is not None:
                    target = self.pull_run.rooted_target(reply.target, applied)
                    self._send(plane, result.outcome, target)
                return result
        except ServiceUnreachable as exc:
            return self.pull_run.offline(applied, started, str(exc))

    # -- check-in -------------------------------------------------------------------------

    def _ask(self, plane: ControlPlane, applied: LastApplied | None) -> CheckinReply:
        """Check in, coming back after each retry-after, within `patience_s`.

        Each attempt is signed afresh (a new nonce and time), so coming back after a long
        wait is never refused as late or as a replay.
        """
        give_up = time.monotonic() + self.patience_s
        while True:
            request = self._request(applied)
            reply = plane.check_in(request)
            if reply.admitted or reply.refused is not None:
                return reply
            delay = reply.retry_after_s or 1.0
            if time.monotonic() + delay > give_up or self.stopping.is_set():
                return reply
            log.debug("%s: told to come back in %.2fs", request.target, delay)
            plane.pause(delay, self.stopping)

    def _request(self, applied: LastApplied | None) -> CheckinRequest:
        return signed_checkin(
            self.credentials,
            self.target_id,
            applied_revision=applied.revision if applied else None,
            report_only=self.report_only,
            interval_s=self.interval_s,
        )

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


def controller_key_of(credentials: Credentials) -> Any:
    """The controller's public key from the credentials; ContractError (exit 2) saying to
    re-enroll when a file from before signed states lacks it or holds no usable key."""
    pem = credentials.controller_public_key
    if pem is None:
        reason = (
            "missing: these credentials are from before signed states (the agent converges "
            "only what the controller signed); re-enroll the target on the control plane: "
            "`provision enroll TARGET --out DIR`, and copy the new credentials.json"
        )
        raise ContractError("credentials.json", [("controller_public_key", reason)])
    try:
        return load_public_key(pem, "controller_public_key")
    except BadKey as exc:
        reason = f"{exc}; re-enroll"
        raise ContractError("credentials.json", [("controller_public_key", reason)]) from None


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
    setup_tracing("provision-agent", command=once)
    agent = Agent(
        directory, root=root, report_only=report_only, interval_s=interval_s, target=target
    )
    signal.signal(signal.SIGTERM, agent.stop)
    signal.signal(signal.SIGINT, agent.stop)
    if splay_s is None:
        splay_s = 0.0 if once else interval_s / 10
    return agent.run(once=once, splay_s=splay_s)
