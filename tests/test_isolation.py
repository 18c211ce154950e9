"""The one table of the tests' Redis databases: no second place writes a number, and no
test database is one the benchmarks use."""

from __future__ import annotations

import re

from bench import chaos, sandbox
from tests.isolation import BENCH_DBS, REDIS_DBS, ROOT

LITERAL = re.compile(r"6379/\d|REDIS_DB\s*=\s*\d|--redis-db\", \"\d")


def test_every_group_has_its_own_database_and_none_is_the_users_or_the_benchs() -> None:
    dbs = list(REDIS_DBS.values())
    assert len(set(dbs)) == len(dbs) and 0 not in dbs
    assert {sandbox.DEFAULT_REDIS_DB, chaos.REDIS_DB} == set(BENCH_DBS)
    assert not set(dbs) & set(BENCH_DBS)


def test_no_test_writes_a_database_number_of_its_own() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if path.name != "isolation.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if LITERAL.search(line)
    ]
    assert not found, found
