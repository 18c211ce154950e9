"""File content as data: hashes for summaries, unified diffs for dry runs."""

from __future__ import annotations

import hashlib

from contracts.engine_limits import DIFF_BYTES

#: Content larger than this (either side) is summarized, not diffed (setting DIFF_BYTES).
MAX_DIFF_BYTES = DIFF_BYTES


def digest(data: bytes | None) -> str:
    """A short sha256 for summaries ("none" when there is no content)."""
    if data is None:
        return "none"
    return "sha256:" + hashlib.sha256(data).hexdigest()[:12]


def unified_diff(path: str, old: bytes | None, new: bytes) -> str:
    """Pure: a unified diff of two versions of a file, or a one-line note if not textual."""
    if len(new) > MAX_DIFF_BYTES or (old is not None and len(old) > MAX_DIFF_BYTES):
        return f"(content of {path} is larger than DIFF_BYTES ({MAX_DIFF_BYTES}); not shown)\n"
    try:
        before = split_lines((old or b"").decode("utf-8"))
        after = split_lines(new.decode("utf-8"))
    except UnicodeDecodeError:
        return f"(binary content of {path} differs)\n"
    if b"\x00" in new or (old is not None and b"\x00" in old):
        return f"(binary content of {path} differs)\n"
    import difflib

    lines = difflib.unified_diff(
        before, after, "/dev/null" if old is None else f"a{path}", f"b{path}"
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def split_lines(text: str) -> list[str]:
    """Lines split on `\n` only, each keeping its ending (a `\r` before it belongs to it)."""
    lines = text.split("\n")
    ending = [line + "\n" for line in lines[:-1]]
    return [*ending, lines[-1]] if lines[-1] else ending
