"""Label values of our Prometheus metrics: fixed vocabularies and capped open-ended labels.

Every label value comes from a fixed vocabulary here (or, for regions and queues, a capped
set of well-formed words): nothing a message says can create a new series, so a hostile
message cannot grow a process's memory or a scraper's storage. `metrics` names the metrics
these values label.
"""

from __future__ import annotations

import re
import threading

from contracts.events import RolloutState
from contracts.outcomes import OutcomeStatus

#: The value a label takes for anything outside its vocabulary.
OTHER = "other"

#: `status` of provision_outcomes_total: every status an outcome can carry.
OUTCOME_STATUSES = tuple(s.value for s in OutcomeStatus if s != OutcomeStatus.PENDING)
#: `state` of provision_rollouts.
ROLLOUT_STATES = tuple(s.value for s in RolloutState)
#: `result` of provision_checkins_total. A check-in whose reply could not be delivered
#: counts as its desk's answer and again as `undeliverable`.
CHECKIN_RESULTS = (
    "admitted",
    "deferred",
    "refused_malformed",
    "refused_identity",
    "refused_assignment",
    "refused_error",
    "undeliverable",
)
#: `reason` of provision_retries_total: why a request goes round again.
RETRY_REASONS = (
    "not_ready",
    "target_unreachable",
    "broker_unavailable",
    "service_unavailable",
    "lock_busy",
    "target_locked",
    "transient",
)
_RETRY_OF_ERROR = {
    "NotReady": "not_ready",
    "TargetUnreachable": "target_unreachable",
    "BrokerUnavailable": "broker_unavailable",
    "ServiceUnavailable": "service_unavailable",
    "LockBusy": "lock_busy",
    "TargetLocked": "target_locked",
}
#: `reason` of provision_dead_letters_total: the kind of a dead letter's reason.
DEAD_LETTER_REASONS = (
    "unauthenticated",
    "unauthorized",
    "invalid",
    "limit",
    "expired",
    "not_allowed",
    "poison",
    "exhausted",
    "unexpected",
    OTHER,
)
#: Dead-letter reasons as our code words them, by kind; the first match wins. Prefixes are
#: ours (a reason starts with our own words), so text quoted from a message comes later in
#: the reason and does not choose its kind.
_DEAD_LETTER_PREFIXES: tuple[tuple[str, str], ...] = (
    # Who sent it cannot be proven: a change event or request without a good signature.
    ("unsigned", "unauthenticated"),
    ("bad signature", "unauthenticated"),
    ("unknown key", "unauthenticated"),
    ("revoked key", "unauthenticated"),
    ("stale: ", "unauthenticated"),
    ("replayed: ", "unauthenticated"),
    # A proven sender asking for more than it may.
    ("outside the scope of ", "unauthorized"),
    ("exhausted after ", "exhausted"),
    ("poison", "poison"),
    ("expired at ", "expired"),
    ("not allowed", "not_allowed"),
    ("unexpected error", "unexpected"),
    ("task message not handled", "unexpected"),
    ("task message check failed", "unexpected"),
)
#: Our words for a message that is not what it claims to be (after the limits' words).
_INVALID_PREFIXES = (
    "invalid ",
    "not json",
    "cannot decode",
    "not a task message",
    "unknown task",
    "unexpected task argument",
    "task ",
    "header ",
    "content ",
    "embedded ",
    "eta ",
    "reply_to ",
    "a bearer-token check-in",
    "change event: ",
    "check-in: ",
)
_LIMIT = re.compile(r"\b(exceeds?|more than) the limit\b|, the limit provision_")
_DEADLINE_PASSED = re.compile(r"^deadline \S+ has passed$")


def retry_reason(error_type: str | None) -> str:
    """The `reason` label of a retry whose cause is the error type `error_type` (the
    exception's class name for a wait); `transient` for any other transient error."""
    return _RETRY_OF_ERROR.get(error_type or "", "transient")


def dead_letter_reason(reason: str) -> str:
    """The `reason` label of a dead letter: the kind of its free-text reason."""
    text = reason.strip().lower()
    for prefix, kind in _DEAD_LETTER_PREFIXES:
        if text.startswith(prefix):
            return kind
    if _DEADLINE_PASSED.match(text):
        return "expired"
    if _LIMIT.search(text):
        return "limit"
    if text.startswith(_INVALID_PREFIXES):
        return "invalid"
    return OTHER


def in_vocabulary(value: str, vocabulary: tuple[str, ...]) -> str:
    """`value` if the vocabulary has it, else OTHER."""
    return value if value in vocabulary else OTHER


#: A region or queue name worth a label of its own: a routing-key word (see Target).
_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class CappedLabel:
    """The values of one open-ended label (regions, queues): the first `cap` well-formed
    values seen get series of their own, anything later or malformed is OTHER.

    Thread-safe: a worker's threads pool and the controller's loop may both call it.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._seen: dict[str, None] = {}
        self._lock = threading.Lock()

    def __call__(self, value: object) -> str:
        text = value if isinstance(value, str) else ""
        if text in self._seen:
            return text
        if not _WORD.match(text) or text == OTHER:
            return OTHER
        with self._lock:
            if len(self._seen) >= self.cap:
                return OTHER
            self._seen[text] = None
        return text

    def seen(self) -> tuple[str, ...]:
        """The values given a series of their own so far, in the order first seen."""
        with self._lock:
            return tuple(self._seen)


#: Distinct regions (and so change queues) one process gives a series of its own.
MAX_REGIONS = 64
