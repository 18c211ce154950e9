"""The PostgreSQL grants as data: every table of the migrations is someone's, nothing is
granted that the code does not use, and append-only tables are never changed by a role."""

from __future__ import annotations

import re

from broker_config.permissions import ROLES
from producers.access.grants import APPEND_ONLY, GRANTS, PRIVILEGES, SERIAL, sequences_of
from producers.store.migrate import available


def migrated_tables() -> set[str]:
    text = "\n".join(m.sql for m in available())
    return set(re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?([a-z_]+)", text)) | {
        "schema_migrations"
    }


def test_every_table_is_known_and_the_operator_reads_them_all() -> None:
    tables = migrated_tables()
    assert "audit_log" in tables and "outcomes" in tables
    for role, grants in GRANTS.items():
        assert role in ROLES
        assert set(grants) <= tables, set(grants) - tables
        assert all(set(p) <= set(PRIVILEGES) and "SELECT" in p for p in grants.values()), role
    assert set(GRANTS["operator"]) == tables


def test_only_the_roles_with_a_database_have_a_login() -> None:
    assert set(GRANTS) == {"controller", "aggregator", "operator"}


def test_append_only_tables_are_never_updated_deleted_or_truncated_by_a_role() -> None:
    for role, grants in GRANTS.items():
        for table in APPEND_ONLY:
            assert not {"UPDATE", "DELETE", "TRUNCATE"} & set(grants.get(table, ())), (role, table)
    assert "audit_log" in APPEND_ONLY


def test_the_aggregator_only_appends_what_an_outcome_records() -> None:
    writes = {t for t, p in GRANTS["aggregator"].items() if set(p) - {"SELECT"}}
    assert writes == {
        "outcomes",
        "compliance_observations",
        "applied_revisions",
        "checkin_refusals",  # outcomes refused because of who sent them (the sender check)
    }
    assert sequences_of("aggregator") == [
        "checkin_refusals_id_seq",
        "compliance_observations_id_seq",
        "outcomes_id_seq",
    ]
    assert set(SERIAL) <= migrated_tables()
