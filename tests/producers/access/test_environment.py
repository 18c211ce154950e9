"""A role's child environment, from the credentials files `provision access apply` writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from producers.access.environment import role_environment
from producers.access.errors import AccessError


def test_a_role_gets_its_broker_url_and_its_env_files_urls_only(tmp_path: Path) -> None:
    (tmp_path / "provision-worker-eu.url").write_text("amqp://provision-worker-eu:pw@h/v\n")
    (tmp_path / "provision-worker-eu.env").write_text(
        "# the stores\n"
        "PROVISION_REDIS_URL=rediss://provision-worker-eu:pw@redis.example\n"
        "PROVISION_DATABASE_URL='postgresql://w:pw@h/p'\n"
        "LD_PRELOAD=/tmp/evil.so\n"
        "garbage line\n"
    )
    assert role_environment(tmp_path, "provision-worker-eu") == {
        "PROVISION_BROKER_URL": "amqp://provision-worker-eu:pw@h/v",
        "PROVISION_REDIS_URL": "rediss://provision-worker-eu:pw@redis.example",
        "PROVISION_DATABASE_URL": "postgresql://w:pw@h/p",
    }


def test_no_credentials_is_one_clear_error_without_secrets(tmp_path: Path) -> None:
    with pytest.raises(AccessError, match="provision access apply"):
        role_environment(tmp_path, "provision-controller")
