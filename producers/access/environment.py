"""A role's environment file, `DIR/<user>.env`: the URLs one process of that role runs with.

One `NAME=value` line per store the role uses (no quotes, no `export`: `docker compose
env_file`, systemd's `EnvironmentFile` and `set -a; . FILE` all read it):

    PROVISION_BROKER_URL=amqp://provision-worker-eu:...@127.0.0.1:5672/%2F
    PROVISION_REDIS_URL=redis://provision-worker-eu:...@127.0.0.1:6379/0
    PROVISION_DATABASE_URL=postgresql://provision-controller:...@127.0.0.1:5432/provisioning

Written 0600 in a 0700 directory, atomically (contracts.private_files). `provision access
apply` keeps the passwords it finds here unless `--rotate`. A process started with
`PROVISION_ENV_FILE=DIR/<user>.env` loads it itself (broker_config.env_file, strict: the
names of NAMES only, 0600); `read_env` here reads the files this package wrote, leniently.
"""

from __future__ import annotations

import re
from pathlib import Path

from broker_config.endpoints import BROKER_URL_ENV
from broker_config.env_file import MAX_BYTES, NAMES, EnvFileError, text_of
from contracts.private_files import PrivateFileError, read_private, write_private
from producers.access.errors import AccessError
from producers.access.users import credentials_path, stored_url

#: A user name as `provision access` makes them (no path separators, no dots first).
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,200}$")


def env_path(directory: Path, user: str) -> Path:
    if not _USER.fullmatch(user):
        raise AccessError(f"user {user[:80]!r}: not a user name of provision access")
    return directory / f"{user}.env"


def write_env(path: Path, environment: dict[str, str]) -> Path:
    """The file with exactly `environment`'s known names, in NAMES order."""
    unknown = set(environment) - set(NAMES)
    if unknown:
        raise ValueError(f"not an environment file name: {sorted(unknown)}")
    for name, value in environment.items():
        if "\n" in value or "\r" in value:
            raise ValueError(f"{name}: a value of one line")
    lines = [f"{name}={environment[name]}" for name in NAMES if name in environment]
    return write_private(path, "\n".join(lines) + "\n")


def read_env(path: Path) -> dict[str, str]:
    """The names and values of an environment file; other names and comments are skipped.

    Raises AccessError (naming the file, never a value) for one that is too large or not text.
    """
    try:
        raw = read_private(path, MAX_BYTES, private=False)
    except PrivateFileError as exc:
        raise AccessError(f"{path}: cannot be read ({exc.reason})") from None
    try:
        text = text_of(raw, str(path))
    except EnvFileError as exc:
        raise AccessError(str(exc)) from None
    found: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name in NAMES:
            value = value.strip()
            if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]  # as docker compose and systemd read a quoted value
            found[name] = value
    return found


def role_environment(out_dir: Path, user: str) -> dict[str, str]:
    """The environment a process of `user`'s role runs with, as `provision access apply`
    wrote it: the broker URL of `out_dir/<user>.url`, then `out_dir/<user>.env`
    (PROVISION_BROKER_URL, and PROVISION_REDIS_URL and PROVISION_DATABASE_URL for the roles
    that have them; users made on RabbitMQ alone have only the first file). Pass it over the
    parent's environment: `{**os.environ, **role_environment(out, user)}`.

    Raises AccessError when neither file is there (never showing a value)."""
    found: dict[str, str] = {}
    url_file, path = credentials_path(out_dir, user), env_path(out_dir, user)
    if url_file.exists():
        found[BROKER_URL_ENV] = stored_url(url_file)
    if path.exists():
        found.update(read_env(path))
    if not found:
        raise AccessError(
            f"no credentials for {user!r} in {out_dir} (run `provision access apply`)"
        )
    return found
