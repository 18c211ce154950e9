"""The local target: a directory on this machine, converged as if it were `/`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextlib import suppress
from urllib.parse import unquote, urlsplit

from workers.targets.base import CommandResult
from workers.targets.errors import ConfinementError, TargetMissing

#: Variables a command inherits from the worker; nothing else leaks (no broker URLs).
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")


class LocalTarget:
    """A root directory on the worker's own filesystem (address `local:///abs/root`).

    Args:
        root: The host directory that plays the role of `/` for spec paths.

    Raises:
        TargetMissing: the root does not exist or is not a directory.
    """

    def __init__(self, root: str) -> None:
        real = os.path.realpath(root)
        if not os.path.isdir(real):
            raise TargetMissing(f"root {root} does not exist or is not a directory")
        self._root = real
        self._prefix = real.rstrip("/") + "/"
        self._dirs: dict[str, str] = {"": real, "/": real}
        self._unsynced: set[str] = set()

    @classmethod
    def from_address(cls, address: str) -> LocalTarget:
        """Open `local:///abs/root` (or `local://localhost/abs/root`)."""
        parts = urlsplit(address)
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise TargetMissing(f"address {address!r}: expected local:///absolute/root")
        return cls(unquote(parts.path))

    @property
    def root(self) -> str:
        """The real path of the root."""
        return self._root

    def confine(self, location: str, path: str) -> str:
        """The real form of `location`, which must be the root or beneath it."""
        real = os.path.realpath(location)
        if real != self._root and not real.startswith(self._prefix):
            raise ConfinementError(path, f"resolves to {real}, outside the root {self._root}")
        return real

    def resolve(self, path: str, *, follow: bool = True) -> str:
        """The real location of a spec path; parents are resolved once and cached."""
        parent, _, name = path.rstrip("/").rpartition("/")
        real_parent = self._dirs.get(parent)
        if real_parent is None:
            relative = "/".join(part for part in parent.split("/") if part and part != ".")
            real_parent = self.confine(os.path.join(self._root, relative), path)
            self._dirs[parent] = real_parent
        if not name or name == ".":
            return real_parent
        location = real_parent + "/" + name
        if follow and os.path.islink(location):
            return self.confine(location, path)
        return location

    def forget(self) -> None:
        """Drop the cached parent resolutions."""
        self._dirs = {"": self._root, "/": self._root}

    def put(
        self,
        location: str,
        data: bytes,
        *,
        mode: int,
        uid: int = -1,
        gid: int = -1,
        durable: bool = True,
    ) -> None:
        """Write `data` to `location` atomically; a crash leaves the old file or the new one.

        With `durable` (managed files) the data and then the rename are fsynced, so they
        survive a power cut too; without it (journal bookkeeping) only a process crash.
        """
        import tempfile

        directory, name = os.path.split(location)
        fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".provision", dir=directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                if uid != -1 or gid != -1:
                    os.fchown(handle.fileno(), uid, gid)
                os.fchmod(handle.fileno(), mode)
                if durable:
                    os.fsync(handle.fileno())
            os.replace(temporary, location)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        if durable:
            self._unsynced.add(directory)

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str,
        env: Mapping[str, str] | None = None,
        timeout_s: float = 300.0,
    ) -> CommandResult:
        """Run argv in its own process group; at the timeout the whole group is killed."""
        import signal
        import subprocess

        environment = {key: os.environ[key] for key in INHERITED_ENV if key in os.environ}
        environment.setdefault("PATH", os.defpath)
        environment["PROVISION_ROOT"] = self._root
        environment.update(env or {})
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout_s)
            code: int | None = process.returncode
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            code = None
        return CommandResult(
            tuple(argv), code, stdout.decode(errors="replace"), stderr.decode(errors="replace")
        )

    def close(self) -> None:
        """Make the renames durable: fsync each directory a file was written into, once."""
        for directory in self._unsynced:
            with suppress(OSError):
                fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        self._unsynced.clear()
