"""File content as data: hashes for summaries, unified diffs for dry runs."""

from __future__ import annotations

import hashlib

#: Content larger than this (either side) is summarized, not diffed.
MAX_DIFF_BYTES = 256 * 1024


def digest(data: bytes | None) -> str:
    """A short sha256 for summaries ("none" when there is no content)."""
    if data is None:
        return "none"
    return "sha256:" + hashlib.sha256(data).hexdigest()[:12]


def unified_diff(path: str, old: bytes | None, new: bytes) -> str:
    """Pure: a unified diff of two versions of a file, or a one-line note if not textual."""
    if len(new) > MAX_DIFF_BYTES or (old is not None and len(old) > MAX_DIFF_BYTES):
        return f"(content of {path} is too large to diff)\n"
    try:
        before = (old or b"").decode("utf-8").splitlines(keepends=True)
        after = new.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return f"(binary content of {path} differs)\n"
    import difflib

    lines = difflib.unified_diff(
        before, after, "/dev/null" if old is None else f"a{path}", f"b{path}"
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )
