"""Who sent a change event, whether it is fresh and new, and whether they may ask for it.

Checked in this order, before anything else reads the event: the signature headers, the
key (known, not revoked), the Ed25519 signature over the exact body bytes; then, once the
body parses, replay (another body under an `event_id` already accepted) and freshness
(`issued_at` within EVENT_WINDOW_S of our clock); after selection, the issuer's scope. Each
failure is a Refusal whose reason says which, and there is no switch that skips any of it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts import Target, limits
from contracts.events import KEY_ID_HEADER, SIGNATURE_HEADER, ChangeEvent
from contracts.issuers import NAME_PATTERN, Scope
from contracts.signatures import SIGNATURE_CHARS, BadKey, load_public_key, verify
from producers.rollouts.intake import Refusal
from producers.truth.issuers import Registry

_KEY_ID_CHARS = 100


@dataclass(frozen=True)
class Signer:
    """The issuer whose key verified an event's signature."""

    issuer: str
    key_id: str
    scope: Scope


def digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _header(headers: Mapping[str, Any] | None, name: str, bound: int) -> str | None:
    """A header as text, or None when absent, not text, or longer than `bound`."""
    value = (headers or {}).get(name)
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    if not isinstance(value, str) or not value or len(value) > bound:
        return None
    return value


def signer_of(body: bytes, headers: Mapping[str, Any] | None, registry: Registry) -> Signer:
    """The verified issuer of `body`. Refusal: unsigned, unknown or revoked key, bad signature."""
    key_id = _header(headers, KEY_ID_HEADER, _KEY_ID_CHARS)
    signature = _header(headers, SIGNATURE_HEADER, SIGNATURE_CHARS)
    if key_id is None or signature is None:
        missing = KEY_ID_HEADER if key_id is None else SIGNATURE_HEADER
        raise Refusal(f"unsigned: header {missing} is missing or malformed", None)
    if not re.match(NAME_PATTERN, key_id):
        raise Refusal(f"unsigned: header {KEY_ID_HEADER} is not a key id", None)
    known = registry.lookup(key_id)
    if known is None:
        raise Refusal(f"unknown key {key_id}: no issuer has it", None)
    if known.revoked_at is not None:
        raise Refusal(
            f"revoked key {key_id} of {known.issuer} (revoked {known.revoked_at.isoformat()})",
            None,
        )
    try:
        public = load_public_key(known.public_key, f"key {key_id}")
    except BadKey as exc:
        raise Refusal(f"unknown key {key_id}: {exc}", None) from None
    if not verify(public, body, signature):
        raise Refusal(f"bad signature: key {key_id} of {known.issuer} did not sign this body", None)
    return Signer(known.issuer, key_id, known.scope)


def check_fresh(event: ChangeEvent, now: datetime) -> None:
    """Refuse an event without `issued_at` or outside the window of our clock."""
    window = limits.EVENT_WINDOW_S
    env = limits.limit("EVENT_WINDOW_S").env
    if event.issued_at is None:
        raise Refusal("stale: issued_at is missing (a signed event says when)", event.change_id)
    skew = (now - event.issued_at).total_seconds()
    if abs(skew) > window:
        when = "old" if skew > 0 else "ahead of our clock"
        raise Refusal(
            f"stale: issued_at {event.issued_at.isoformat()} is {abs(skew):.0f}s {when}, "
            f"outside the window {env}={window:g}",
            event.change_id,
        )


def check_scope(signer: Signer, event: ChangeEvent, targets: Iterable[Target]) -> None:
    """Refuse what the issuer's scope does not grant: the first reason found."""
    scope, who = signer.scope, signer.issuer
    chosen = list(targets)

    def refuse(reason: str) -> Refusal:
        return Refusal(f"outside the scope of {who}: {reason}", event.change_id)

    if scope.selectors is not None:
        if event.targets is not None:
            raise refuse("an inline fleet (targets) is not allowed to a scoped issuer")
        for target in chosen:
            if not any(selector.matches(target) for selector in scope.selectors):
                raise refuse(f"target {target.id} is not matched by any of its selectors")
    if scope.max_targets is not None and len(chosen) > scope.max_targets:
        raise refuse(f"{len(chosen)} targets selected, its max_targets is {scope.max_targets}")
    if event.revision is not None and not scope.grants_every_resource:
        raise refuse(
            "rolling out a revision needs a scope that grants every resource (no kinds or "
            "paths, shell and allow_setid true): a revision may hold anything"
        )
    for index, spec in enumerate(event.resources):
        where = f"resources.{index} ({spec.kind})"
        if scope.kinds is not None and spec.kind not in scope.kinds:
            raise refuse(f"{where}: kind {spec.kind} is not one of {', '.join(scope.kinds)}")
        if getattr(spec, "shell", False) and not scope.shell:
            raise refuse(f"{where}: shell: true is not allowed")
        if getattr(spec, "allow_setid", False) and not scope.allow_setid:
            raise refuse(f"{where}: allow_setid: true is not allowed")
        for field in ("path", "destination"):
            path = getattr(spec, field, None)
            absolute = field == "path" or (isinstance(path, str) and path.startswith("/"))
            if isinstance(path, str) and absolute and not scope.covers_path(path):
                under = ", ".join(scope.paths or ())
                raise refuse(f"{where}: {field} {path[:200]} is not under {under}")
