"""The local target: a directory on this machine, converged as if it were `/`.

Every read and write starts from an open descriptor of the root and resolves the spec path
afresh (`workers.engine.hosts.walk`), so a link can never lead outside and no resolution is
reused after a command has run.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from contextlib import suppress
from urllib.parse import quote, unquote, urlsplit

from workers.engine.hosts.base import CommandResult
from workers.engine.hosts.errors import PathError, TargetMissing
from workers.engine.hosts.walk import Spot, host_path, walk
from workers.engine.target_files import READ_FLAGS

#: Variables a command inherits from the worker; nothing else leaks (no broker URLs).
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")


class LocalHost:
    """A root directory on the worker's own filesystem (address `local:///abs/root`).

    Args:
        root: The host directory that plays the role of `/` for spec paths.

    Raises:
        TargetMissing: the root does not exist or is not a directory.
    """

    def __init__(self, root: str) -> None:
        real = os.path.realpath(root)
        try:
            self._fd = os.open(real, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            raise TargetMissing(f"root {root} does not exist or is not a directory") from None
        self._root = real
        self._unsynced: set[str] = set()
        try:  # read once, not at every resolution (see `walk`)
            self._root_host: str | None = host_path(self._fd)
        except OSError:  # no /proc: each resolution tries, and says why
            self._root_host = None

    @classmethod
    def from_address(cls, address: str) -> LocalHost:
        """Open `local:///abs/root` (or `local://localhost/abs/root`)."""
        parts = urlsplit(address)
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise TargetMissing(f"address {address!r}: expected local:///absolute/root")
        return cls(unquote(parts.path))

    @property
    def root(self) -> str:
        """The real path of the root."""
        return self._root

    def real_address(self) -> str:
        """`local://` and the path the kernel gives for the opened root descriptor: not the
        path asked for, so a link swapped in between cannot pass for an allowed root."""
        try:
            real = os.readlink(f"/proc/self/fd/{self._fd}")
        except OSError:
            real = self._root  # no /proc: the path resolved just before opening
        return f"local://{quote(real, safe='/')}"

    def spot(self, path: str, *, follow: bool = True, parents: bool = False) -> Spot:
        """Resolve `path` inside the root (see `walk`); the caller closes the Spot."""
        return walk(self._fd, path, follow=follow, parents=parents, root_host=self._root_host)

    def lstat(self, path: str, *, follow: bool = True) -> os.stat_result | None:
        """What is at `path` (its last link followed inside the root if `follow`), or None."""
        try:
            with self.spot(path, follow=follow) as spot:
                return os.stat(spot.name or ".", dir_fd=spot.parent, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def read(self, path: str) -> tuple[os.stat_result | None, bytes | None]:
        """The entry at `path` (link followed inside the root) and, for a regular file, its bytes.

        The bytes and the entry come from the same open descriptor. Only a regular file is
        opened (a device or a FIFO never is); the lstat that decides it is the one the walk
        took, if it took one.
        """
        try:
            with self.spot(path) as spot:
                seen = spot.seen
                if seen is None:
                    seen = os.stat(spot.name or ".", dir_fd=spot.parent, follow_symlinks=False)
                if not stat.S_ISREG(seen.st_mode):
                    return seen, None
                fd = os.open(spot.name, READ_FLAGS, dir_fd=spot.parent)
        except FileNotFoundError:
            return None, None
        try:
            seen = os.fstat(fd)
            return seen, _read_all(fd, seen.st_size)
        finally:
            os.close(fd)

    def readlink(self, path: str) -> str | None:
        """The link text at `path`, or None when it is not a link."""
        try:
            with self.spot(path, follow=False) as spot:
                return os.readlink(spot.name, dir_fd=spot.parent) if spot.name else None
        except (FileNotFoundError, OSError):
            return None

    def listdir(self, path: str) -> list[str]:
        """The names in the directory at `path` (link followed inside the root)."""
        with self.spot(path) as spot:
            fd = os.open(spot.name or ".", READ_FLAGS | os.O_DIRECTORY, dir_fd=spot.parent)
        try:
            return os.listdir(fd)
        finally:
            os.close(fd)

    def scan(self, path: str) -> list[tuple[str, os.stat_result]]:
        """Everything beneath the directory at `path`, links not followed: (relative, lstat)."""
        with self.spot(path) as spot:
            fd = os.open(spot.name or ".", READ_FLAGS | os.O_DIRECTORY, dir_fd=spot.parent)
        found = []
        try:
            for top, dirs, files, top_fd in os.fwalk(".", dir_fd=fd):
                for name in (*dirs, *files):
                    seen = os.stat(name, dir_fd=top_fd, follow_symlinks=False)
                    found.append((os.path.normpath(os.path.join(top, name)), seen))
        finally:
            os.close(fd)
        return found

    def put(
        self,
        path: str,
        data: bytes,
        *,
        mode: int,
        uid: int = -1,
        gid: int = -1,
        durable: bool = True,
        parents: bool = True,
        allow_hardlinks: bool = False,
    ) -> None:
        """Write a file atomically: a new file beside it, fsync, rename over (link followed).

        The rename replaces the directory entry, so another name of the old file (a hard
        link) never sees the new content; writing over such a file is still refused unless
        `allow_hardlinks`, as the caller may have meant the shared file.
        """
        with self.spot(path, parents=parents) as spot:
            if not spot.name:
                raise PathError(path, "is the target's root, not a file")
            with suppress(FileNotFoundError):
                seen = os.stat(spot.name, dir_fd=spot.parent, follow_symlinks=False)
                _check_links(path, seen, allow_hardlinks)
            temporary = f".{spot.name[:200]}.{os.getpid()}.provision"
            fd = os.open(
                temporary,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=spot.parent,
            )
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    if uid != -1 or gid != -1:
                        os.fchown(handle.fileno(), uid, gid)
                    os.fchmod(handle.fileno(), mode)
                    if durable:
                        os.fsync(handle.fileno())
                os.rename(temporary, spot.name, src_dir_fd=spot.parent, dst_dir_fd=spot.parent)
            except BaseException:
                with suppress(FileNotFoundError):
                    os.unlink(temporary, dir_fd=spot.parent)
                raise
            if durable:
                self._unsynced.add(spot.real.rpartition("/")[0] or "/")

    def set_meta(
        self,
        path: str,
        *,
        mode: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
        follow: bool = True,
        allow_hardlinks: bool = False,
    ) -> None:
        """Set owner, then mode, on the very entry the walk found (a link itself is skipped).

        Raises:
            PathError: a regular file with other hard links, or an owner the worker may not set.
        """
        with self.spot(path, follow=follow) as spot:
            fd = os.open(
                spot.name or ".", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=spot.parent
            )
        try:
            seen = os.fstat(fd)
            if stat.S_ISLNK(seen.st_mode):
                return
            _check_links(path, seen, allow_hardlinks)
            handle = f"/proc/self/fd/{fd}"
            if uid is not None or gid is not None:
                try:
                    os.chown(handle, -1 if uid is None else uid, -1 if gid is None else gid)
                except PermissionError:
                    raise PathError(
                        path, f"worker (uid {os.geteuid()}) may not set owner {uid}:{gid}"
                    ) from None
            if mode is not None:
                os.chmod(handle, mode)
        finally:
            os.close(fd)

    def mkdir(self, path: str, mode: int) -> None:
        """Create the directory at `path` and any missing parents (existing ones are kept)."""
        with self.spot(path, parents=True) as spot:
            if spot.name:
                with suppress(FileExistsError):
                    os.mkdir(spot.name, mode, dir_fd=spot.parent)

    def symlink(self, path: str, destination: str, *, replace_dir: bool = False) -> None:
        """Make `path` a link to `destination`, atomically (a new link renamed over).

        `replace_dir` first removes an empty directory at `path`.
        """
        with self.spot(path, follow=False, parents=True) as spot:
            if not spot.name:
                raise PathError(path, "the target's root cannot become a symlink")
            temporary = f".{spot.name[:200]}.{os.getpid()}.provision-link"
            os.symlink(destination, temporary, dir_fd=spot.parent)
            try:
                if replace_dir:
                    os.rmdir(spot.name, dir_fd=spot.parent)
                os.rename(temporary, spot.name, src_dir_fd=spot.parent, dst_dir_fd=spot.parent)
            except BaseException:
                os.unlink(temporary, dir_fd=spot.parent)
                raise

    def remove(self, path: str) -> None:
        """Remove what is at `path` (never following it); a directory is renamed aside first."""
        import shutil

        with self.spot(path, follow=False) as spot:
            if not spot.name:
                raise PathError(path, "the target's root cannot be removed")
            seen = os.stat(spot.name, dir_fd=spot.parent, follow_symlinks=False)
            if not stat.S_ISDIR(seen.st_mode):
                os.unlink(spot.name, dir_fd=spot.parent)
                return
            aside = f".{spot.name[:200]}.{os.getpid()}.provision-removed"
            os.rename(spot.name, aside, src_dir_fd=spot.parent, dst_dir_fd=spot.parent)
            shutil.rmtree(aside, dir_fd=spot.parent)

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str = "/",
        env: Mapping[str, str] | None = None,
        timeout_s: float = 300.0,
    ) -> CommandResult:
        """Run argv in the directory `cwd` (a spec path); see `workers.engine.hosts.commands`."""
        from workers.engine.hosts.commands import run_command

        with self.spot(cwd) as spot:
            directory = os.path.join(self._root, spot.real.lstrip("/"))
        environment = {key: os.environ[key] for key in INHERITED_ENV if key in os.environ}
        environment.setdefault("PATH", os.defpath)
        environment["PROVISION_ROOT"] = self._root
        environment.update(env or {})
        return run_command(argv, cwd=directory, env=environment, timeout_s=timeout_s)

    def sync(self) -> None:
        """Make the renames durable: fsync each directory a file was written into, once.

        Separate from `close` so one opened target can serve a whole task (allow check,
        lock, journal, engine) and still make the engine's writes durable before the
        outcome is recorded."""
        for directory in self._unsynced:
            with suppress(OSError), self.spot(directory) as spot:
                fd = os.open(spot.name or ".", os.O_RDONLY | os.O_DIRECTORY, dir_fd=spot.parent)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        self._unsynced.clear()

    def close(self) -> None:
        """Sync (see `sync`), then let go of the root."""
        self.sync()
        with suppress(OSError):
            os.close(self._fd)


def _read_all(fd: int, size: int) -> bytes:
    """Everything up to the end of the file: one read of its size (and one more to see the
    end), without a file object's buffer, terminal check and seeks."""
    chunks = [os.read(fd, size + 1)]
    while chunks[-1]:
        chunks.append(os.read(fd, 1 << 20))
    return b"".join(chunks)


def _check_links(path: str, seen: os.stat_result, allow_hardlinks: bool) -> None:
    """Refuse a regular file that has other names (one may be outside the root)."""
    if stat.S_ISREG(seen.st_mode) and seen.st_nlink > 1 and not allow_hardlinks:
        raise PathError(
            path,
            f"is a regular file with {seen.st_nlink} hard links; refusing to change it "
            "(set allow_hardlinks: true if every name is meant)",
        )
