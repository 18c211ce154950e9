"""The environment a process of one role runs with: its own credentials, from the files
`provision access apply` writes under its `--out` directory.

One place reads them, so the demo (and anything else that starts a role's process) hands
each child exactly its role's URLs: `USER.url` (the broker URL), and, when present,
`USER.env` lines `NAME=VALUE` for the other services' URLs (`PROVISION_BROKER_URL`,
`PROVISION_REDIS_URL`, `PROVISION_DATABASE_URL`). Nothing else is taken from a file.
"""

from __future__ import annotations

from pathlib import Path

from contracts import ExitCode, ProvisioningError
from producers.access.users import credentials_path

#: The variables a credentials file may set for a child.
ROLE_VARIABLES = ("PROVISION_BROKER_URL", "PROVISION_REDIS_URL", "PROVISION_DATABASE_URL")


class MissingCredentials(ProvisioningError):
    """A role's credentials file is not where `provision access apply` writes it."""

    exit_code = ExitCode.INPUT


def env_path(directory: Path, user: str) -> Path:
    return directory / f"{user}.env"


def role_environment(directory: Path, user: str) -> dict[str, str]:
    """The variables a child of `user`'s role gets: its broker URL, then its `.env` file's.

    Raises MissingCredentials when neither file is there (never showing a secret)."""
    found: dict[str, str] = {}
    url_file, env_file = credentials_path(directory, user), env_path(directory, user)
    if url_file.exists():
        found["PROVISION_BROKER_URL"] = url_file.read_text().strip()
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            name, sep, value = line.strip().partition("=")
            if sep and name in ROLE_VARIABLES:
                found[name] = value.strip().strip("'\"")
    if not found:
        raise MissingCredentials(
            f"no credentials for {user!r} in {directory} (run `provision access apply`)"
        )
    return found
