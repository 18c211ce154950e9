"""The task message a worker accepts: ours, small, shallow, plain, and due before its deadline.

Checked in the consumer before Celery looks inside the message, because Celery unpacks a
body in its consumer loop, where one malformed message (`{"a": 1}`) is an unrecoverable
error that stops the worker, and again after every restart. Whatever fails here is
dead-lettered with the reason and acked; what passes is exactly what `converge_task`
takes, with a Celery time limit derived from the request's own deadline.

Every request must carry the controller's signature (`contracts.controller_signatures`),
verified with the worker's `--controller-public-key`: a task message published straight
onto a region queue, or one altered on the way, is refused here (`Unsigned`), before
anything is locked or applied, and reported as a `rejected` outcome.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from contracts import limits
from contracts.changes import EMPTY_EMBED, TASK_NAME, utcnow
from contracts.controller_signatures import SignatureRefused, check_request
from contracts.outcomes import RETRIES_KEPT
from workers.delivery import controller_key

#: The keyword arguments of `converge_task` (its retries add `waits`, `replay`, `tries`).
KWARGS = frozenset({"request", "waits", "replay", "tries"})
#: Content encodings a JSON task body may declare.
ENCODINGS = frozenset({None, "", "utf-8", "utf8", "UTF-8"})
#: Celery's embed keys: they must all be empty (no callbacks, errbacks, chains, chords).
EMBED = frozenset(EMPTY_EMBED)


class Refused(Exception):
    """A task message this worker will not run; the message is the dead letter's reason."""


class Unsigned(Refused):
    """A request without the controller's valid signature. `change_id` and `target` are
    what it claims (when readable), for the `rejected` outcome that reports it."""

    def __init__(self, reason: str, change_id: str | None, target: str | None) -> None:
        super().__init__(reason)
        self.change_id = change_id
        self.target = target


def admit(message: Any) -> None:
    """Check one task message; raises Refused with the reason. Sets its time limit."""
    headers = message.headers
    if not isinstance(headers, dict) or "task" not in headers:
        raise Refused("not a task message (no 'task' header)")
    try:
        limits.check_headers("task", headers)
    except limits.LimitExceeded as exc:
        raise Refused(str(exc)) from exc
    name = headers["task"]
    if name != TASK_NAME:
        raise Refused(f"task {str(name)[:100]!r} is not allowed: only {TASK_NAME} runs here")
    _header_types(headers)
    body = message.body
    if not isinstance(body, bytes | str):
        raise Refused(f"task body of type {type(body).__name__} is not JSON text")
    try:
        limits.check_json("task body", body, limits.REQUEST_BYTES, "REQUEST_BYTES")
    except limits.LimitExceeded as exc:
        raise Refused(str(exc)) from exc
    if message.content_type != "application/json":
        raise Refused(f"content type {str(message.content_type)[:100]!r} is not application/json")
    encoding = getattr(message, "content_encoding", None)
    if encoding not in ENCODINGS:
        raise Refused(f"content encoding {str(encoding)[:100]!r} is not utf-8")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise Refused(f"cannot decode the message body (not JSON): {exc}") from exc
    kwargs = _shape(payload)
    # Celery's handler looks into the decoded body ('args' in it: protocol 1 or 2), which
    # would parse the body a second time; the parse is kombu's memo, so hand it ours.
    message._decoded_cache = payload
    expires = _deadline(kwargs.get("request"))
    _eta(headers, expires)
    _signed(kwargs.get("request"))  # the form first, as cheap checks go first everywhere
    headers["timelimit"] = _time_limits(expires)


def _header_types(headers: dict[str, Any]) -> None:
    """The protocol-2 headers Celery acts on, each of the type Celery expects, or Refused:
    a mistyped one is a forged message, whatever Celery would make of it."""
    ident = headers.get("id")
    if not isinstance(ident, str) or not 0 < len(ident) <= 255:
        raise Refused(f"header id {str(ident)[:60]!r} is not a task id")
    retries = headers.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10_000:
        raise Refused(f"header retries {str(retries)[:60]!r} is not a count")
    if headers.get("lang") != "py":
        raise Refused(f"header lang {str(headers.get('lang'))[:60]!r} is not 'py'")
    for key in ("eta", "expires"):
        value = headers.get(key)
        if value is not None and not isinstance(value, str):
            raise Refused(f"header {key} {str(value)[:60]!r} is not an ISO time")
    expires = headers.get("expires")
    if expires is not None:
        try:
            datetime.fromisoformat(expires.replace("Z", "+00:00"))
        except ValueError as exc:
            raise Refused(f"header expires {expires[:60]!r} is not an ISO time") from exc
    limit = headers.get("timelimit")
    numbers = isinstance(limit, list | tuple) and len(limit) == 2
    if limit is not None and not (
        numbers and all(v is None or (isinstance(v, int | float) and v > 0) for v in limit)
    ):
        raise Refused(f"header timelimit {str(limit)[:60]!r} is not [hard, soft] seconds")


def _object_of(value: Any, known: frozenset[str], not_object: str, unknown: str) -> None:
    """Refused unless `value` is an object whose keys are all `known` (the first few named)."""
    if not isinstance(value, dict):
        raise Refused(not_object)
    extra = sorted(set(value) - known)
    if extra:
        raise Refused(f"{unknown}: {', '.join(map(str, extra))[:200]}")


def _shape(payload: Any) -> dict[str, Any]:
    """The kwargs of a well-formed `[args, kwargs, embed]` body; Refused otherwise."""
    if not isinstance(payload, list) or len(payload) != 3:
        raise Refused("task body is not [args, kwargs, embed] (Celery protocol 2)")
    args, kwargs, embed = payload
    if args != []:
        raise Refused("task takes no positional arguments")
    _object_of(kwargs, KWARGS, "task kwargs are not an object", "unexpected task argument(s)")
    if not isinstance(kwargs.get("waits", 0), int) or isinstance(kwargs.get("waits"), bool):
        raise Refused("task argument 'waits' is not an integer")
    if not isinstance(kwargs.get("replay"), str | None):
        raise Refused("task argument 'replay' is not a string")
    tries = kwargs.get("tries")
    if tries is not None and not (isinstance(tries, list) and len(tries) <= RETRIES_KEPT):
        raise Refused(f"task argument 'tries' is not a list of at most {RETRIES_KEPT} tries")
    _object_of(embed, EMBED, "task embed is not an object", "unknown embed key(s)")
    given = sorted(key for key in EMBED if embed.get(key))
    if given:
        raise Refused(f"embedded {', '.join(given)} refused: only {TASK_NAME} runs here")
    return kwargs


def _signed(request: Any) -> None:
    """Unsigned unless the request carries the controller's valid signature (fail closed:
    a worker without the controller's key refuses everything)."""
    key = controller_key.installed()
    try:
        if key is None:
            raise SignatureRefused("this worker has no controller public key to verify with")
        check_request(key, request)
    except SignatureRefused as exc:
        change_id, target = _claims(request)
        raise Unsigned(str(exc), change_id, target) from None


def _claims(request: Any) -> tuple[str | None, str | None]:
    """The change id and target id a request claims, when both are plain short strings."""
    if not isinstance(request, dict):
        return None, None
    target = request.get("target")
    change_id, target_id = request.get("change_id"), None
    if isinstance(target, dict):
        target_id = target.get("id")
    if not (isinstance(change_id, str) and isinstance(target_id, str)):
        return None, None
    if not (0 < len(change_id) <= 200 and 0 < len(target_id) <= 200):
        return None, None
    return change_id, target_id


def _deadline(request: Any) -> datetime | None:
    """The request's `expires_at`, when it reads as an aware time (the task checks the rest)."""
    value = request.get("expires_at") if isinstance(request, dict) else None
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _eta(headers: dict[str, Any], expires: datetime | None) -> None:
    """Refuse an ETA (or countdown) past the request's deadline or the ETA horizon."""
    eta = headers.get("eta")
    if eta is None:
        return
    try:
        when = datetime.fromisoformat(str(eta).replace("Z", "+00:00"))
    except ValueError as exc:
        raise Refused(f"eta {str(eta)[:60]!r} is not an ISO time") from exc
    if when.tzinfo is None:
        raise Refused(f"eta {eta} has no time zone")
    horizon = utcnow().timestamp() + limits.ETA_HORIZON_S
    if when.timestamp() > horizon:
        raise limits_refusal("eta", when, "ETA_HORIZON_S", limits.ETA_HORIZON_S)
    if expires is not None and when > expires:
        raise Refused(f"eta {when.isoformat()} is after the request's deadline {expires}")


def limits_refusal(what: str, value: Any, name: str, bound: Any) -> Refused:
    return Refused(f"{what} {value} exceeds the limit {limits.limit(name).env}={bound}")


def _time_limits(expires: datetime | None) -> list[float]:
    """[hard, soft] seconds: until the deadline plus a grace, never beyond the ceiling."""
    ceiling = limits.TASK_TIME_LIMIT_S
    if expires is None:
        hard = ceiling
    else:
        left = expires.timestamp() - utcnow().timestamp()
        hard = min(ceiling, max(1.0, left) + limits.TASK_TIME_GRACE_S)
    return [round(hard + 5.0, 3), round(hard, 3)]
