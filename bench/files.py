"""The files every convergence contender writes: same names, same bytes, same mode."""

from __future__ import annotations

import json
from pathlib import Path

#: Where the files go, under a target's root (ours) or as an absolute directory (peers).
SUBDIR = "srv/bench"
MODE = "0644"


def name(index: int) -> str:
    return f"f{index:04d}.conf"


def content(index: int) -> str:
    """About 300 bytes of text that differ per file."""
    return f"# bench file {index}\n" + "".join(f"key{k} = value {index}.{k}\n" for k in range(12))


def write_sources(directory: Path, count: int) -> list[str]:
    """The files as a peer uploads them (pyinfra src=, Ansible src=); returns their names."""
    directory.mkdir(parents=True, exist_ok=True)
    names = [name(index) for index in range(count)]
    for index, file_name in enumerate(names):
        (directory / file_name).write_text(content(index))
    return names


def write_state(path: Path, count: int) -> Path:
    """Our state file: one `file` resource per file, content inline."""
    resources = [
        {"kind": "file", "path": f"/{SUBDIR}/{name(i)}", "content": content(i), "mode": MODE}
        for i in range(count)
    ]
    path.write_text(json.dumps({"resources": resources}))
    return path
