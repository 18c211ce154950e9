"""The demo's identities, without services: its PostgreSQL administrator and what a child of
its inherits (nothing of the demo's own logins)."""

from __future__ import annotations

from pathlib import Path

import pytest

from producers.demo_access import DemoAccess, admin_database_url
from producers.processes.supervisor import child_environment


def test_the_administrator_is_the_flag_the_variable_else_postgres_on_the_same_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PROVISION_ADMIN_DATABASE_URL", raising=False)
    monkeypatch.setenv(
        "PROVISION_DATABASE_URL",
        "postgresql://provisioning:pw@db.example:6543/demo?sslmode=require",
    )
    assert admin_database_url() == "postgresql://postgres@db.example:6543/demo?sslmode=require"
    monkeypatch.setenv("PROVISION_ADMIN_DATABASE_URL", "postgresql://admin:a@h/demo")
    assert admin_database_url() == "postgresql://admin:a@h/demo"
    assert admin_database_url("postgresql://given@h/demo") == "postgresql://given@h/demo"


def test_a_child_gets_its_role_s_env_file_and_none_of_the_demo_s_logins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("PROVISION_BROKER_URL", "PROVISION_REDIS_URL", "PROVISION_DATABASE_URL"):
        monkeypatch.setenv(name, "the demo's own")
    monkeypatch.setenv("PROVISION_BROKER_URL_FILE", "/the/demo's.url")
    access = DemoAccess(tmp_path, {"worker-eu": "p-worker-eu"}, {"worker-eu": ("RabbitMQ",)})
    env = child_environment(access.env("worker-eu"))
    assert env["PROVISION_ENV_FILE"] == str(tmp_path / "p-worker-eu.env")
    assert not {k for k, v in env.items() if v == "the demo's own"}
    assert "PROVISION_BROKER_URL_FILE" not in env
    assert env["PATH"]  # the rest is inherited
