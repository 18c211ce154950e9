"""`PROVISION_ENV_FILE`: a process takes on its role's identity from one file at start.

`provision access apply` writes `DIR/<user>.env` per role (`producers.access.environment`):
the role's own broker, Redis and PostgreSQL URLs. A process started with
`PROVISION_ENV_FILE=DIR/<user>.env` loads that file into `os.environ` before it reads any
URL, so everything after (Endpoints.from_env, the database URL, the Celery app) sees the
role's logins. Both command lines load it in their group callback (`provision ...`,
`python -m producers ...`, `python -m workers ...`), so every command honours it one way.

The file is the role's identity, so its values win over the environment's for the names it
carries; a name it does not carry is left as the environment has it (compose.yaml gives its
process services no shared store URL to fall back on).

The file is credentials and is read as hostile input, like an ssh key:

* a regular file (a symlink to one is followed), at most MAX_BYTES, UTF-8;
* refused when its group or others may read or write it (mode & 0o077);
* only `NAME=value` lines with NAME in NAMES, each at most once, a value of the URL scheme
  its name expects; blank lines and `#` comments are skipped; a value in matching quotes is
  unquoted (as docker compose and systemd read it);
* anything else is an EnvFileError naming the file, the line number and the reason, never
  a value (a malformed line may be a password).
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from urllib.parse import urlsplit

from broker_config.endpoints import (
    BROKER_URL_ENV,
    BROKER_URL_FILE_ENV,
    DATABASE_URL_ENV,
    REDIS_URL_ENV,
)
from contracts import ExitCode, ProvisioningError
from contracts.private_files import PrivateFileError, read_private

#: The variable naming a role's environment file.
ENV_FILE_ENV = "PROVISION_ENV_FILE"
#: The names an environment file may set -> the URL schemes each value may have.
SCHEMES: dict[str, tuple[str, ...]] = {
    BROKER_URL_ENV: ("amqp", "amqps"),
    REDIS_URL_ENV: ("redis", "rediss"),
    DATABASE_URL_ENV: ("postgresql", "postgres"),
}
#: The names, in the order `provision access apply` writes them.
NAMES = tuple(SCHEMES)
#: The largest environment file read (a few URLs).
MAX_BYTES = 16_384
#: Why a file over MAX_BYTES is refused.
_TOO_LARGE = f"larger than {MAX_BYTES} bytes: not an environment file"
#: What a name looks like; a line whose "name" does not is not shown (it may be a secret).
_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,63}")


class EnvFileError(ProvisioningError):
    """PROVISION_ENV_FILE names a file that cannot be a role's environment."""

    exit_code = ExitCode.INPUT


def read_env_file(path: str) -> dict[str, str]:
    """The names and values of the environment file at `path`, checked as described above
    (the file itself by contracts.private_files, opened once and never waited on)."""
    where = f"{ENV_FILE_ENV}={path}"
    try:
        raw = read_private(path, MAX_BYTES)
    except PrivateFileError as exc:
        raise EnvFileError(f"{where}: {_refusal(exc)}") from None
    return parse(text_of(raw, where), where)


def _refusal(exc: PrivateFileError) -> str:
    """A refused environment file in this module's own words."""
    if exc.problem == "open":
        return f"cannot open it ({exc.detail})"
    if exc.problem == "shared":
        return (
            f"mode {exc.mode:04o} lets others read or write credentials; refused"
            " (chmod 600 it, as `provision access apply` writes it)"
        )
    if exc.problem == "too-large":
        return _TOO_LARGE
    return exc.reason


def text_of(raw: bytes, where: str) -> str:
    """The text of an environment file's bytes: at most MAX_BYTES of UTF-8, else
    EnvFileError naming `where` (never a value)."""
    if len(raw) > MAX_BYTES:
        raise EnvFileError(f"{where}: {_TOO_LARGE}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise EnvFileError(f"{where}: not UTF-8 text: not an environment file") from None


def parse(text: str, where: str) -> dict[str, str]:
    """`NAME=value` lines into a dict; EnvFileError at the first line that is not one."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, sep, value = stripped.partition("=")
        name, value = name.strip(), value.strip()
        at = f"{where}: line {number}"
        if not sep or not _NAME.fullmatch(name):
            raise EnvFileError(f"{at}: not a NAME=value line")
        if name not in SCHEMES:
            raise EnvFileError(f"{at}: {name} is not a name it may set ({', '.join(NAMES)})")
        if name in found:
            raise EnvFileError(f"{at}: {name} is set twice")
        if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if any(ord(c) < 0x20 or c == "\x7f" for c in value):
            raise EnvFileError(f"{at}: {name}'s value holds a control character")
        if _scheme(value) not in SCHEMES[name]:
            wanted = " or ".join(f"{s}://" for s in SCHEMES[name])
            raise EnvFileError(f"{at}: {name} is not a {wanted} URL")
        found[name] = value
    return found


def _scheme(value: str) -> str:
    try:
        return urlsplit(value).scheme
    except ValueError:
        return ""


def load_env_file(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Load the file PROVISION_ENV_FILE names into `environ` (os.environ by default); the
    names set, in NAMES order (none when the variable is unset or empty).

    A file that carries the broker URL while PROVISION_BROKER_URL_FILE is set too is a
    mistake worth one clear line: which of the two is the process's identity?"""
    environ = os.environ if environ is None else environ
    path = environ.get(ENV_FILE_ENV)
    if not path:
        return []
    values = read_env_file(path)
    if BROKER_URL_ENV in values and environ.get(BROKER_URL_FILE_ENV):
        raise EnvFileError(
            f"{ENV_FILE_ENV}={path} carries {BROKER_URL_ENV}: unset {BROKER_URL_FILE_ENV}"
        )
    environ.update(values)
    return [name for name in NAMES if name in values]
