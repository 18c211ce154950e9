"""Which database: `PROVISION_DATABASE_URL`; `redact` and `scrub` hide its password (the one
redaction of every URL, broker_config.endpoints).

The default is the local database `provisioning` that `.ci/services` creates, with the
role and password it creates (a development default, like RabbitMQ's guest:guest).
"""

from __future__ import annotations

import os

from broker_config.endpoints import DATABASE_URL_ENV as ENV
from broker_config.endpoints import redact, scrub

DEFAULT_URL = "postgresql://provisioning:provisioning-local@127.0.0.1:5432/provisioning"


def database_url(url: str | None = None) -> str:
    """The URL given, else `PROVISION_DATABASE_URL`, else the local default."""
    return url or os.environ.get(ENV) or DEFAULT_URL


__all__ = ["DEFAULT_URL", "ENV", "database_url", "redact", "scrub"]
