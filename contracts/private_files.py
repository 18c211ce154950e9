"""Files only their owner may read (credentials, keys, an agent's state): read one way,
written one way.

Both planes write such files (the control plane's `provision enroll` and `provision access`,
the agent's state), and only `contracts` is theirs to share: so the one writer lives here.
Four places read one (the PROVISION_ENV_FILE loader, the dashboard's operator credentials
and TLS key, a signing key), and each used to check it its own way: one of them waited on
a FIFO for ever and read a huge file whole. `read_private` is the one reader, so the checks
cannot drift apart; each caller words its refusals its own way from
`PrivateFileError.problem`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Literal

from contracts.errors import ExitCode, ProvisioningError

#: Which check refused a file: it could not be opened or read, it is not a regular file,
#: group or others may use it, or it is larger than the caller's bound.
Problem = Literal["open", "read", "not-regular", "shared", "too-large"]


class PrivateFileError(ProvisioningError):
    """`read_private` refused a file. `reason` says why in words safe to show: never a byte
    of the file. Callers turn it into their own error type and wording."""

    exit_code = ExitCode.INPUT

    def __init__(
        self,
        path: str | Path,
        problem: Problem,
        reason: str,
        *,
        mode: int | None = None,
        detail: str | None = None,
    ) -> None:
        self.path = str(path)
        self.problem: Problem = problem
        self.reason = reason
        #: The permission bits found ("shared"; None otherwise).
        self.mode = mode
        #: The system's words for why it could not be opened or read ("open", "read").
        self.detail = detail
        super().__init__(f"{path}: {reason}")


def read_private(path: str | Path, max_bytes: int, *, private: bool = True) -> bytes:
    """The bytes of the regular file at `path`, at most `max_bytes` of them.

    Opened once, without blocking (a FIFO or a device is refused, never waited on) and every
    check is made on the descriptor, so no name swapped in between is read. A symlink is
    followed, as every caller did. `private`: refused when group or others may read or
    write it (mode & 0o077); False for a file read beside a secret (a TLS certificate), which
    gets every other check. Reads at most `max_bytes` + 1 bytes, whatever the file's size
    says or becomes. Raises PrivateFileError.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        detail = exc.strerror or str(exc)
        raise PrivateFileError(path, "open", f"cannot open it ({detail})", detail=detail) from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise PrivateFileError(path, "not-regular", "not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if private and mode & 0o077:
            reason = f"group or others may read it (mode {mode:04o}); make it 0600"
            raise PrivateFileError(path, "shared", reason, mode=mode)
        if info.st_size > max_bytes:
            raise PrivateFileError(path, "too-large", f"over {max_bytes} bytes")
        data = _read_at_most(descriptor, max_bytes + 1)
    except OSError as exc:
        detail = exc.strerror or str(exc)
        raise PrivateFileError(path, "read", f"cannot read it ({detail})", detail=detail) from None
    finally:
        os.close(descriptor)
    if len(data) > max_bytes:  # it grew since fstat
        raise PrivateFileError(path, "too-large", f"over {max_bytes} bytes")
    return data


def _read_at_most(descriptor: int, limit: int) -> bytes:
    """Up to `limit` bytes, to the end of the file (a read may return fewer than asked)."""
    chunks: list[bytes] = []
    left = limit
    while left > 0 and (chunk := os.read(descriptor, left)):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def write_private(path: Path, text: str) -> Path:
    """`text` into `path`, 0600 in a 0700 directory, fsynced and replaced atomically, so a
    reader sees the old file or the new one, never half of either, and nobody else reads it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return path
