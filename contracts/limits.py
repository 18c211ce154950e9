"""Every bound on what one input may cost, in one place: named, with a default, overridable.

A consumer checks the limit before the work it protects (the size before parsing, the
nesting depth before `json.loads`, the number of targets before planning), so one message
or one file can never cost more than its limit. Each limit can be changed with the
environment variable `PROVISION_LIMIT_<NAME>`, read once at import; every refusal names
the limit and the value (`LimitExceeded`). The README lists them all.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

from contracts.errors import ExitCode, ProvisioningError

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Limit:
    """One named bound: `PROVISION_LIMIT_<name>` overrides `default`."""

    name: str
    default: float
    doc: str

    @property
    def env(self) -> str:
        return f"PROVISION_LIMIT_{self.name}"

    @property
    def value(self) -> float:
        raw = os.environ.get(self.env)
        if raw is None or not raw.strip():
            return self.default
        try:
            return float(raw)
        except ValueError:
            return self.default


class LimitExceeded(ProvisioningError):
    """An input over one of the limits; the message names the limit and the value."""

    exit_code = ExitCode.INPUT

    def __init__(self, what: str, limit: Limit | str, value: object, bound: object) -> None:
        name = limit.env if isinstance(limit, Limit) else limit
        self.limit = name
        super().__init__(f"{what}: {value} exceeds the limit {name}={bound}")


_ALL: dict[str, Limit] = {}


def _limit(name: str, default: float, doc: str) -> float:
    limit = Limit(name, default, doc)
    _ALL[name] = limit
    return limit.value


def limit(name: str) -> Limit:
    """The Limit called `name` (for messages that must name it)."""
    return _ALL[name]


def all_limits() -> list[Limit]:
    """Every limit, in the order defined (the README's table)."""
    return list(_ALL.values())


# -- message bodies (checked before parsing) ---------------------------------------------
EVENT_BYTES = int(_limit("EVENT_BYTES", MIB, "a change event on provision.events"))
CHECKIN_BYTES = int(_limit("CHECKIN_BYTES", 16 * KIB, "a check-in on provision.checkins"))
OUTCOME_BYTES = int(_limit("OUTCOME_BYTES", 256 * KIB, "an outcome on provision.results"))
REQUEST_BYTES = int(_limit("REQUEST_BYTES", MIB, "a change request (task message)"))
REPLY_BYTES = int(_limit("REPLY_BYTES", 4 * MIB, "a check-in reply read by an agent"))
FILE_BYTES = int(_limit("FILE_BYTES", 4 * MIB, "a YAML or JSON file given to the CLI"))
HEADER_BYTES = int(_limit("HEADER_BYTES", 16 * KIB, "the AMQP headers of one message"))
STATE_BYTES = int(
    _limit("STATE_BYTES", 768 * KIB, "one target's rendered state (it must fit a change request)")
)
# -- structure --------------------------------------------------------------------------
JSON_DEPTH = int(_limit("JSON_DEPTH", 64, "nesting of arrays and objects in JSON or YAML"))
YAML_ALIASES = int(_limit("YAML_ALIASES", 100, "aliases (*name) in one YAML file"))
YAML_EXPANDED_NODES = int(
    _limit("YAML_EXPANDED_NODES", 10_000, "nodes YAML aliases may add once expanded")
)
# -- rollouts ---------------------------------------------------------------------------
TARGETS_PER_EVENT = int(_limit("TARGETS_PER_EVENT", 10_000, "targets in or selected by an event"))
WAVES = int(_limit("WAVES", 100, "waves of one rollout"))
RATE_MIN_PER_S = _limit("RATE_MIN_PER_S", 0.001, "smallest rollout.rate_per_s")
RATE_MAX_PER_S = _limit("RATE_MAX_PER_S", 10_000.0, "largest rollout.rate_per_s")
DEADLINE_HORIZON_S = _limit("DEADLINE_HORIZON_S", 7 * 86_400.0, "how far ahead a deadline may be")
CLOCK_SKEW_S = _limit("CLOCK_SKEW_S", 300.0, "how far ahead of ours a sender's clock may be")
CHECKIN_WINDOW_S = _limit(
    "CHECKIN_WINDOW_S", 300.0, "how far a check-in's sent_at may be from the desk's clock"
)
EVENT_WINDOW_S = _limit(
    "EVENT_WINDOW_S", 300.0, "how far a change event's issued_at may be from the controller's clock"
)
# -- the worker -------------------------------------------------------------------------
TASK_TIME_LIMIT_S = _limit("TASK_TIME_LIMIT_S", 3600.0, "ceiling of a task's Celery time limit")
TASK_TIME_GRACE_S = _limit("TASK_TIME_GRACE_S", 30.0, "time past a request's deadline to finish")
ETA_HORIZON_S = _limit("ETA_HORIZON_S", 3600.0, "how far ahead a task's eta or countdown may be")
# -- broker queues (x-max-length-bytes) -------------------------------------------------
QUEUE_BYTES = int(_limit("QUEUE_BYTES", 256 * MIB, "bytes one region/results queue may hold"))
EVENTS_QUEUE_BYTES = int(_limit("EVENTS_QUEUE_BYTES", 64 * MIB, "bytes provision.events holds"))
DEAD_QUEUE_BYTES = int(_limit("DEAD_QUEUE_BYTES", 256 * MIB, "bytes provision.dead holds"))
# -- storage ----------------------------------------------------------------------------
EXCERPT_BYTES = int(_limit("EXCERPT_BYTES", 512, "excerpt of a rejected input kept in Redis"))
REJECTED_TTL_S = int(_limit("REJECTED_TTL_S", 7 * 86_400, "how long a rejected event is kept"))
REFUSALS_KEPT = int(_limit("REFUSALS_KEPT", 1000, "check-in refusals kept for operators"))
AUDIT_REFUSALS_PER_MIN = int(
    _limit("AUDIT_REFUSALS_PER_MIN", 30, "refused events one sender writes to the audit trail")
)

#: A JSON string, as "unrolled" (runs of plain bytes between escapes): the same matches as
#: `"(?:[^"\\]|\\.)*"`, three times faster on a large state file, which it scans whole.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def check_size(what: str, body: bytes | str, bound: int, name: str) -> None:
    """Refuse a body longer than `bound` bytes, before anything reads it."""
    size = len(body)
    if size > bound:
        raise LimitExceeded(f"{what} of {size} bytes", _ALL[name], f"{size} bytes", bound)


def json_depth(body: bytes | str) -> int:
    """The deepest nesting of arrays and objects in a JSON text, without parsing it.

    Strings are skipped first, so brackets inside them do not count. Cheap (two regex
    passes) and never recursive, unlike the parser it protects.
    """
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub(b"", data)):
        if bracket in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def check_json(what: str, body: bytes | str, bound: int, name: str) -> None:
    """Size, then nesting depth: both before the body is parsed."""
    check_size(what, body, bound, name)
    depth = json_depth(body)
    if depth > JSON_DEPTH:
        raise LimitExceeded(f"{what} nested {depth} deep", _ALL["JSON_DEPTH"], depth, JSON_DEPTH)


def check_headers(what: str, headers: Any) -> None:
    """Refuse headers larger than HEADER_BYTES once written out (ours are a few hundred)."""
    if not headers:
        return
    size = len(json.dumps(headers, default=str, separators=(",", ":")))
    if size > HEADER_BYTES:
        raise LimitExceeded(
            f"{what} headers of {size} bytes", _ALL["HEADER_BYTES"], f"{size} bytes", HEADER_BYTES
        )
