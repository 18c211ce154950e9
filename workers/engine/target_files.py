"""Where the engine keeps its own files on a target, and how it opens a target's files.

Standard library only (and `workers/engine/__init__.py` is empty), so the witness
(`workers.witness`, `workers.shortcut`) uses the very same names and flags without
importing the engine.
"""

from __future__ import annotations

import os

#: The engine's own directory under a target's root: the journal and the target's lock.
JOURNAL_DIR = "/var/lib/provision"
#: The lock every converge of the target holds (`workers.engine.target_lock`).
LOCK_FILE = f"{JOURNAL_DIR}/lock"
#: Opening a directory on the way: never through a link (O_NOFOLLOW + O_DIRECTORY on a link
#: fails with ENOTDIR).
DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: Reading a file: never a link, never blocking on a FIFO, never taking a terminal.
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
