"""Turning what goes wrong at a path into the engine's own error, naming the spec path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from workers.engine.hosts import Host, PathError
from workers.engine.hosts.walk import parts
from workers.engine.resources.base import ResourceError


def is_root(path: str) -> bool:
    """True when a spec path names the root itself (`/`, `/.`, `//`)."""
    return not parts(path)


def entry_at(target: Host, path: str, *, follow: bool = True) -> os.stat_result | None:
    """What is at `path` (see `Host.lstat`), or None also when a directory on the way is
    missing: a host may say so with FileNotFoundError rather than None."""
    try:
        return target.lstat(path, follow=follow)
    except FileNotFoundError:
        return None


@contextmanager
def path_errors(path: str) -> Iterator[None]:
    """Re-raise an OSError as a ResourceError that names `path` and the reason only.

    No host path and no temporary file's name reaches an outcome.
    """
    try:
        yield
    except PathError as exc:
        raise ResourceError(f"{path}: {exc.reason}") from exc
    except FileNotFoundError as exc:
        if isinstance(exc.strerror, str) and exc.strerror.startswith("/"):
            raise ResourceError(f"{path}: {exc.strerror}") from exc
        raise ResourceError(f"{path}: something on the way does not exist") from exc
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ResourceError(f"{path}: {reason}") from exc
