"""Checks of single fields of resource specs: paths, modes, regexes, argv, printable text.

Kept apart from the spec models so every model that takes a path (resources, readiness
checks, states) checks it the same way, and the models module stays about the models.
"""

from __future__ import annotations

import re
import unicodedata

_MODE = re.compile(r"^0?[0-7]{3,4}$")
#: C0 controls, DEL, and the bidirectional overrides and isolates (U+202A-E, U+2066-9):
#: in a path they spoof what the CLI and outcomes show.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
SETID = 0o6000


#: Unicode categories no path needs and a spoofer loves: controls, format characters (bidi
#: overrides, zero-width spaces) and the line and paragraph separators.
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp"})
#: The kernel's own bounds: one name (NAME_MAX) and a whole path (PATH_MAX), in bytes.
NAME_MAX = 255
PATH_MAX = 4096


def _invisible(value: str) -> re.Match[str] | None:
    bad = _UNPRINTABLE.search(value)
    if bad is None and not value.isascii():
        for offset, char in enumerate(value):
            if unicodedata.category(char) in _INVISIBLE:
                return re.compile(re.escape(char)).search(value, offset)
    return bad


def check_text(value: str, what: str) -> str:
    """Refuse control characters, bidirectional overrides and other invisible characters
    (zero-width spaces, line separators), naming the first one."""
    if not value:
        raise ValueError(f"{what} must be a non-empty string")
    bad = _invisible(value)
    if bad is not None:
        raise ValueError(
            f"{what} may not contain control characters or bidirectional overrides "
            f"(found U+{ord(bad.group()):04X} at offset {bad.start()})"
        )
    return value


def check_path(value: str) -> str:
    """A spec path is POSIX, printable, free of `..`; it is read relative to the target's root."""
    if not value or "\x00" in value:
        raise ValueError("path must be a non-empty string without NUL bytes")
    check_text(value, "path")
    if not value.startswith("/"):
        raise ValueError(f"path must be absolute (start with '/'), got {value[:80]!r}")
    # The names between slashes, as PurePosixPath's parts without the root (empty ones and
    # `.` included: they are neither `..` nor long); a split is a tenth of its cost, which a
    # state of 1,000 paths pays 1,000 times.
    names = value.split("/")
    if ".." in names:
        raise ValueError("path may not contain '..': every path stays under the target's root")
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > PATH_MAX:
        raise ValueError(f"path is {size} bytes long; the limit is {PATH_MAX} (PATH_MAX)")
    for name in names:
        length = len(name.encode("utf-8", "surrogatepass"))
        if length > NAME_MAX:
            raise ValueError(
                f"path component {name[:40]!r}... is {length} bytes; the limit is {NAME_MAX}"
            )
    return value


def check_mode(value: str | None) -> str | None:
    """Modes are octal strings such as "0644", so YAML never reads them as decimal."""
    if value is None:
        return None
    if not isinstance(value, str) or not _MODE.match(value):
        raise ValueError(f"mode must be an octal string such as '0644', got {value!r}")
    return value.zfill(4)


def check_regex(value: str | None) -> str | None:
    """A regex is compiled once here, so a bad one is a contract error, not a failed run."""
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from exc
    return value


def check_argv(value: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """An argv is a non-empty list of strings without NUL bytes; it never passes a shell."""
    if value is None:
        return None
    if not value or not value[0]:
        raise ValueError("argv must be a non-empty list whose first item names the program")
    if any("\x00" in part for part in value):
        raise ValueError("argv items may not contain NUL bytes")
    return value
