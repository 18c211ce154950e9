"""Resolution inside a root: openat2 and the component walk agree, and neither leaves it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from workers.engine.hosts import PathError, openat2
from workers.engine.hosts.walk import walk


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A root full of links: relative, absolute, climbing, looping, re-pointed, host paths."""
    root = tmp_path / "root"
    (root / "etc/app").mkdir(parents=True)
    (root / "etc/app/f0.conf").write_text("0")
    (root / "a").mkdir()
    (tmp_path / "outside").mkdir()
    links = {
        "etc/app/current": "/etc/app/f0.conf",
        "etc/app/rel": "f0.conf",
        "up": "../../../..",
        "a/L": "s/../../outside",
        "a/s": ".",
        "host": str(tmp_path / "outside"),
        "loop1": "loop2",
        "loop2": "loop1",
        "dangling": "/nowhere/file",
        "dir": "/etc/app",
    }
    for name, destination in links.items():
        os.symlink(destination, root / name)
    (root / "plain").write_text("x")
    return root


CASES = [
    ("/etc/app/current", True, "/etc/app/f0.conf"),
    ("/etc/app/current", False, "/etc/app/current"),
    ("/etc/app/rel", True, "/etc/app/f0.conf"),
    ("/up/etc/app/f0.conf", True, "/etc/app/f0.conf"),
    ("/up", True, "/"),
    ("/a/L/x", True, "/outside/x"),
    ("/host/x", True, "HOST/x"),
    ("/dangling", True, "/nowhere/file"),
    ("/dir/f0.conf", True, "/etc/app/f0.conf"),
    ("/new/deeper", False, None),
]


@pytest.mark.parametrize("kernel", [True, False])
@pytest.mark.parametrize(("path", "follow", "real"), CASES)
def test_both_resolvers_agree_and_stay_inside(
    tree: Path,
    monkeypatch: pytest.MonkeyPatch,
    kernel: bool,
    path: str,
    follow: bool,
    real: str | None,
) -> None:
    if kernel and not openat2.AVAILABLE:
        pytest.skip("this kernel has no openat2")
    monkeypatch.setattr(openat2, "AVAILABLE", kernel)
    root_fd = os.open(tree, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if real is None:
            with pytest.raises(FileNotFoundError):
                walk(root_fd, path, follow=follow)
            return
        expected = real.replace("HOST", str(tree.parent / "outside"))
        with walk(root_fd, path, follow=follow, parents=True) as spot:
            assert spot.real == expected
            host = os.readlink(f"/proc/self/fd/{spot.parent}")
            assert host == str(tree) or host.startswith(f"{tree}/")
    finally:
        os.close(root_fd)
    assert list((tree.parent / "outside").iterdir()) == []


@pytest.mark.parametrize("kernel", [True, False])
def test_loops_and_files_on_the_way_are_path_errors(
    tree: Path, monkeypatch: pytest.MonkeyPatch, kernel: bool
) -> None:
    monkeypatch.setattr(openat2, "AVAILABLE", kernel and openat2.AVAILABLE)
    root_fd = os.open(tree, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(PathError, match="symlinks"):
            walk(root_fd, "/loop1/x")
        with pytest.raises(PathError, match="/plain is not a directory"):
            walk(root_fd, "/plain/x")
    finally:
        os.close(root_fd)


@pytest.mark.parametrize("kernel", [True, False])
def test_read_gives_the_entry_and_every_byte_and_never_opens_a_fifo(
    tree: Path, monkeypatch: pytest.MonkeyPatch, kernel: bool
) -> None:
    """LocalHost.read with either resolver: the lstat the walk took decides what is opened;
    a large file comes back whole, an empty one as b"", a FIFO (which would block a blocking
    open) and a directory as their entry without bytes, a link inside the root followed."""
    from workers.engine.hosts.local import LocalHost

    monkeypatch.setattr(openat2, "AVAILABLE", kernel and openat2.AVAILABLE)
    large = os.urandom(3 * 1024 * 1024 + 17)
    (tree / "etc/app/large").write_bytes(large)
    (tree / "etc/app/empty").write_bytes(b"")
    os.mkfifo(tree / "etc/app/fifo")
    host = LocalHost(str(tree))
    try:
        seen, content = host.read("/etc/app/large")
        assert content == large and seen is not None and seen.st_size == len(large)
        assert host.read("/etc/app/empty")[1] == b""
        seen, content = host.read("/etc/app/fifo")
        assert content is None and seen is not None and stat.S_ISFIFO(seen.st_mode)
        seen, content = host.read("/etc/app")
        assert content is None and seen is not None and stat.S_ISDIR(seen.st_mode)
        assert host.read("/etc/app/current")[1] == b"0"
        assert host.read("/etc/app/missing") == (None, None)
        assert host.read("/nowhere/at/all") == (None, None)
    finally:
        host.close()
