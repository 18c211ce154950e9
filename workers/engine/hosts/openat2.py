"""The kernel's own resolution inside a root: openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS).

Linux 5.6 and later resolve a whole path under a directory descriptor the way the engine
means it (`..` stops at the root, absolute link destinations start at the root). Where
the call is missing (ENOSYS, another architecture, seccomp), `AVAILABLE` is False and the
engine walks component by component instead (`workers.engine.hosts.walk`), with the same meaning.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform

#: openat2's syscall number (the same on x86_64 and arm64, the generic table).
SYS_OPENAT2 = {"x86_64": 437, "aarch64": 437, "arm64": 437}.get(platform.machine())
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)


_SIZE = ctypes.sizeof(_OpenHow)
#: The open_how argument per flags, made once: the kernel only reads it.
_HOWS: dict[int, _OpenHow] = {}


def open_in_root(root_fd: int, path: str, flags: int) -> int:
    """Open `path` (relative) under `root_fd` with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS.

    Raises:
        OSError: as the kernel said (ENOENT, ENOTDIR, ELOOP, ENOSYS...).
    """
    how = _HOWS.get(flags)
    if how is None:
        how = _OpenHow(flags | os.O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
        _HOWS[flags] = how
    fd = _libc.syscall(SYS_OPENAT2, root_fd, os.fsencode(path), ctypes.byref(how), _SIZE)
    if fd < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), path)
    return int(fd)


def _probe() -> bool:
    if SYS_OPENAT2 is None:
        return False
    root = os.open("/", os.O_PATH | os.O_CLOEXEC)
    try:
        os.close(open_in_root(root, ".", os.O_PATH))
    except OSError as exc:
        return exc.errno not in (errno.ENOSYS, errno.EPERM, errno.EINVAL)
    finally:
        os.close(root)
    return True


#: True when this kernel has openat2 (probed once, at import).
AVAILABLE = _probe()
