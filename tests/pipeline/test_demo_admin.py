"""`provision demo` with a PostgreSQL administrator who may not create roles."""

from __future__ import annotations

from pathlib import Path

from producers.access.management import DEFAULT_ADMIN_URL, Management
from tests.databases import database_name_of, drop_database, make_database
from tests.isolation import Isolation, provision


def test_an_administrator_who_may_not_create_roles_is_one_clear_line_before_any_change(
    tmp_path: Path, isolation: Isolation
) -> None:
    """The demo's own role may create databases, not roles: named as the PostgreSQL
    administrator, the demo stops before any user is made, and says where to name one."""
    demo_env = isolation("demo").env
    name = database_name_of("demo_admin")
    url = make_database(name)
    try:
        env = {**demo_env, "PROVISION_DATABASE_URL": url}
        env["PROVISION_ACCESS_PREFIX"] = f"{demo_env['PROVISION_ACCESS_PREFIX']}-no"
        done = provision(
            "demo", "--targets", "1", "--state-dir", str(tmp_path), "--admin-database-url", url,
            env=env,
        )  # fmt: skip
    finally:
        drop_database(name)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "may not create roles: pass --admin-database-url (or PROVISION_ADMIN_DATABASE_URL)"
        in " ".join(done.stderr.split())
    ), done.stderr
    assert "provisioning-local" not in done.stdout + done.stderr
    assert not (tmp_path / "access").exists() or not any((tmp_path / "access").iterdir())
    users = Management(DEFAULT_ADMIN_URL).users()
    assert not [u for u in users if str(u["name"]).startswith(env["PROVISION_ACCESS_PREFIX"])]
