"""Where witnesses are kept: one small JSON file per (root, state file), in the invoking
user's own cache directory, never under a root.

The cache may be forgotten at any time (a miss only runs the engine), but it must not be
believed when someone else could have written it: the directory must be the user's own
and closed to others, every file in it too, and nothing in it is followed through a link.
A witness is trusted only for the same code, the same settings (every `PROVISION_*`
variable) and the same user that wrote it (`stamp`).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat

TYPE_CHECKING = False  # see workers.shortcut: `typing` is not imported on this path
if TYPE_CHECKING:
    from typing import Any

#: Bumped when what a witness holds, or how it is compared, changes.
FORMAT = 1
#: A cache file larger than this is not read (a witness is ~150 bytes per resource).
MAX_ENTRY_BYTES = 64 * 1024 * 1024
#: The secret that keys every content hash (`workers.witness`).
KEY_FILE = "key"
KEY_BYTES = 32
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def directory() -> str:
    """PROVISION_CACHE_DIR, else $XDG_CACHE_HOME/provision, else ~/.cache/provision; then
    `converge`."""
    base = os.environ.get("PROVISION_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "provision",
    )
    return os.path.join(base, "converge")


def entry_name(root: str, state_file: str) -> str:
    """The file that holds the witness of one root converged to one state file."""
    where = f"{os.geteuid()}\0{os.path.abspath(root)}\0{os.path.abspath(state_file)}"
    return hashlib.sha256(where.encode("utf-8", "surrogateescape")).hexdigest()[:32] + ".json"


def stamp() -> str:
    """What else the engine's answer depends on: this code (every module's size and
    modification time), every PROVISION_* setting, the user and the witness format."""
    digest = hashlib.sha256(f"{FORMAT}\0{os.geteuid()}\0".encode())
    for name, value in sorted(os.environ.items()):
        if name.startswith("PROVISION_"):
            digest.update(f"{name}={value}\0".encode("utf-8", "surrogateescape"))
    sources = []
    for package in _packages():
        for top, dirs, files in os.walk(package):
            dirs[:] = [name for name in dirs if name != "__pycache__"]
            sources += [os.path.join(top, name) for name in files if name.endswith(".py")]
    for source in sorted(sources):
        info = os.stat(source)
        line = f"{source}:{info.st_size}:{info.st_mtime_ns}\0"
        digest.update(line.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _packages() -> list[str]:
    """Where the data plane's code and the contracts it validates with are (side by side,
    as one distribution installs them)."""
    here = os.path.dirname(os.path.abspath(__file__))
    return [here, os.path.join(os.path.dirname(here), "contracts")]


def opened(create: bool = False) -> int | None:
    """The cache directory's descriptor (the caller closes it), or None when it is missing
    or not ours alone."""
    path = directory()
    try:
        if create:
            os.makedirs(path, mode=0o700, exist_ok=True)
        descriptor = os.open(path, _OPEN_DIR)
    except OSError:
        return None
    if _private(os.fstat(descriptor), directory=True):
        return descriptor
    os.close(descriptor)
    return None


def _private(info: os.stat_result, *, directory: bool = False) -> bool:
    """Ours, and nobody else may read or write it (a file: regular)."""
    kind_ok = stat.S_ISDIR(info.st_mode) if directory else stat.S_ISREG(info.st_mode)
    return kind_ok and info.st_uid == os.geteuid() and not info.st_mode & 0o077


def read(cache: int, name: str, limit: int = MAX_ENTRY_BYTES) -> bytes | None:
    """A private file of the cache, whole; None when missing, too large or not private."""
    try:
        descriptor = os.open(name, _OPEN_FILE, dir_fd=cache)
    except OSError:
        return None
    try:
        info = os.fstat(descriptor)
        if not _private(info) or info.st_size > limit:
            return None
        data = os.read(descriptor, info.st_size + 1)
        return data if len(data) == info.st_size else None
    finally:
        os.close(descriptor)


def write(cache: int, name: str, data: bytes) -> None:
    """Replace a cache file atomically (a crash leaves the old one or nothing readable)."""
    temporary = f".{name}.{os.getpid()}.tmp"
    # The directory is ours alone, so a file of that name is one a run of ours left.
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    descriptor = os.open(temporary, flags, 0o600, dir_fd=cache)
    try:
        os.write(descriptor, data)
    finally:
        os.close(descriptor)
    os.replace(temporary, name, src_dir_fd=cache, dst_dir_fd=cache)


def key(cache: int, create: bool = False) -> bytes | None:
    """The cache's secret (made on first use), or None when there is none to trust."""
    found = read(cache, KEY_FILE, KEY_BYTES)
    if found is None and create:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            descriptor = os.open(KEY_FILE, flags, 0o600, dir_fd=cache)
        except FileExistsError:  # another run made it first: read theirs
            descriptor = None
        if descriptor is not None:
            try:
                os.write(descriptor, os.urandom(KEY_BYTES))
            finally:
                os.close(descriptor)
        found = read(cache, KEY_FILE, KEY_BYTES)
    return found if found is not None and len(found) == KEY_BYTES else None


def load(cache: int, name: str) -> dict[str, Any] | None:
    """A witness as written by `save`; None when unreadable or not of this format."""
    data = read(cache, name)
    if data is None:
        return None
    try:
        entry = json.loads(data)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) and entry.get("format") == FORMAT else None


def save(cache: int, name: str, entry: dict[str, Any]) -> None:
    write(cache, name, json.dumps({"format": FORMAT, **entry}).encode())
