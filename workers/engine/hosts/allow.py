"""Which target roots this process may converge: the worker's allow rule, never the message's.

A change request names its target's address, and anyone who can publish a request could
name `local:///`. So a worker converges only the addresses its own configuration allows
(`provision worker --allow PATTERN`, or PROVISION_WORKER_ALLOW, comma-separated).

Both the address and each pattern are first normalised the same way, so spelling cannot
escape a pattern: the scheme and host are lower-cased (`local://localhost/x` is
`local:///x`), percent-escapes are decoded once (as the target decodes them), `.`, `..`
and empty segments are resolved lexically, and a trailing slash is dropped. An address
with a query, a fragment, a control character, a backslash or invalid UTF-8 is refused.
Paths stay case-sensitive, as the filesystem is.

Patterns are globs on the normalised address: `*` never crosses a `/` (so
`local:///srv/*` allows `/srv/a`, not `/srv` nor `/srv/a/b`), and `**` matches any
characters, `/` included (`local:///srv/**` allows everything beneath `/srv`, not `/srv`
itself; neither matches an empty segment, so no glob allows `local:///`: only the
pattern `local:///` itself does). Every other character matches only itself (there is
no `?`: it starts a query).

Lexical checks cannot see symbolic links (`/srv/a` may be a link to `/`), so once a root
is opened its real directory must match the rule as well (`hosts.connect` checks it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from workers.engine.hosts.errors import TargetError

#: The environment variable a worker reads its allow rule from (comma-separated patterns).
ALLOW_ENV = "PROVISION_WORKER_ALLOW"

_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\]")


class NotAllowed(TargetError):
    """The target's address is outside this process's allow rule (or cannot be read)."""


def normalise(address: str) -> str:
    """The canonical spelling of an address, on which patterns are matched.

    Raises:
        NotAllowed: the address cannot be read unambiguously.
    """
    if _FORBIDDEN.search(address):
        raise NotAllowed(f"address {address!r}: control characters or backslashes")
    parts = urlsplit(address)
    scheme = parts.scheme.lower()
    if not scheme or not address[len(scheme) :].startswith("://"):
        raise NotAllowed(f"address {address!r}: expected scheme://host/path")
    if parts.query or parts.fragment or "?" in address or "#" in address:
        raise NotAllowed(f"address {address!r}: a query or fragment is not allowed")
    host = parts.netloc.lower()
    if scheme == "local" and host == "localhost":
        host = ""
    try:
        path = unquote(parts.path, errors="strict")
    except UnicodeDecodeError:
        raise NotAllowed(f"address {address!r}: percent-escapes that are not UTF-8") from None
    if _FORBIDDEN.search(path):
        raise NotAllowed(f"address {address!r}: an escaped control character or backslash")
    if not path.startswith("/"):
        raise NotAllowed(f"address {address!r}: the path must be absolute")
    return f"{scheme}://{host}{_clean(path)}"


def _clean(path: str) -> str:
    """`path` with `.`, `..` and empty segments resolved lexically; `/` at the top."""
    segments: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    return "/" + "/".join(segments)


def _regex(pattern: str) -> re.Pattern[str]:
    """A glob as a regex: `**` one or more characters, `*` one or more within a segment.

    Never empty, so no glob matches `local:///`: the whole filesystem is allowed only
    by naming it, `--allow local:///`.
    """
    out = []
    for token in re.split(r"(\*\*|\*)", pattern):
        if token == "**":
            out.append(".+")
        elif token == "*":
            out.append("[^/]+")
        else:
            out.append(re.escape(token))
    return re.compile("".join(out))


@dataclass(frozen=True)
class AllowRule:
    """A set of address patterns; an address is allowed when one matches all of it."""

    patterns: tuple[str, ...]

    @classmethod
    def parse(cls, patterns: Iterable[str]) -> AllowRule:
        """Normalise each pattern; raise ValueError naming a pattern that is not an address."""
        cleaned = []
        for raw in patterns:
            pattern = raw.strip()
            if not pattern:
                continue
            try:
                cleaned.append(normalise(pattern))
            except NotAllowed as exc:
                raise ValueError(f"allow pattern {raw!r}: {exc}") from None
        return cls(tuple(dict.fromkeys(cleaned)))

    @classmethod
    def from_env_value(cls, value: str | None) -> AllowRule:
        """PROVISION_WORKER_ALLOW: patterns separated by commas."""
        return cls.parse((value or "").split(","))

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def why_not(self, address: str) -> str | None:
        """None when `address` is allowed; else the reason, naming the address."""
        try:
            canonical = normalise(address)
        except NotAllowed as exc:
            return str(exc)
        if any(_regex(p).fullmatch(canonical) for p in self.patterns):
            return None
        shown = canonical if canonical == address else f"{address!r} ({canonical})"
        return f"target address {shown} is outside this worker's --allow rule"

    def check(self, address: str) -> None:
        """Raise NotAllowed with the reason unless `address` is allowed."""
        why = self.why_not(address)
        if why is not None:
            raise NotAllowed(why)


#: The rule of this process, once a worker installed it; None in local mode (converge, agent).
_installed: AllowRule | None = None


def install(rule: AllowRule) -> None:
    """Make `rule` this process's (its forked pool children inherit it)."""
    global _installed
    _installed = rule


def installed() -> AllowRule | None:
    """The rule `install` set, or None when this process is not a worker."""
    return _installed
