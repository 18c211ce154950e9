"""Retry policy: which failures are transient, and how long to wait before trying again.

One table decides, so the task, the outcome's `ErrorInfo.transient` and the tests agree.
Transient failures retry with exponential backoff and full jitter, bounded by a number
of attempts and by the request's deadline; permanent ones fail at once.
"""

from __future__ import annotations

import os
import random

from contracts import ErrorInfo, OutcomeStatus

#: Engine runs of one request before a transient failure becomes its final outcome.
MAX_ATTEMPTS = 5
#: Waits for a busy target lock or an unreachable Redis, counted apart from attempts: a
#: crashed worker's lock lasts one lock TTL, which must not eat the attempt budget.
MAX_WAITS = 30
#: delay = uniform(0, min(cap, base * 2**attempt)). The base is an env knob for tests.
BACKOFF_BASE_S = float(os.environ.get("PROVISION_RETRY_BASE_S", "1.0"))
BACKOFF_CAP_S = 60.0
#: Waits (lock busy, Redis down) back off faster and stop growing sooner.
WAIT_CAP_S = 5.0

#: Error types that a later attempt may cure: target unreachable, lock busy, not ready,
#: broker or Redis hiccup.
TRANSIENT = frozenset(
    {"TargetUnreachable", "LockBusy", "NotReady", "ServiceUnavailable", "BrokerUnavailable"}
)
#: Error types that no retry can cure: invalid spec, confinement violation, failed command.
PERMANENT = frozenset(
    {"ContractError", "SpecError", "ConfinementError", "CommandFailed", "UnsupportedTarget"}
)


def is_transient(status: OutcomeStatus, error: ErrorInfo | None) -> bool:
    """True when trying the same request later may succeed."""
    if status == OutcomeStatus.NOT_READY:
        return True
    if status != OutcomeStatus.FAILED or error is None:
        return False
    if error.type in PERMANENT:
        return False
    return error.type in TRANSIENT or error.transient


def backoff_cap_s(attempt: int, *, cap_s: float = BACKOFF_CAP_S) -> float:
    """The upper bound of the delay before retry number `attempt` (1-based): it doubles."""
    return min(cap_s, BACKOFF_BASE_S * 2**attempt)


def backoff_s(attempt: int, *, cap_s: float = BACKOFF_CAP_S) -> float:
    """The delay before retry number `attempt`, with full jitter (AWS architecture blog)."""
    return random.uniform(0, backoff_cap_s(attempt, cap_s=cap_s))
