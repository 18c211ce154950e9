"""Files only their owner may read (credentials, an agent's state), written one way.

Both planes write such files (the control plane's `provision enroll` and `provision access`,
the agent's state), and only `contracts` is theirs to share: so the one writer lives here.
"""

from __future__ import annotations

import os
from pathlib import Path


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
