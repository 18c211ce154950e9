"""The system of record in PostgreSQL: what must survive any restart of Redis.

`url` names the database, `pool` reaches it, `migrate` keeps its schema current and checks
it at start, and one repository module per noun reads and writes its tables in plain SQL.
Redis keeps only what may be forgotten (locks, caches, limiters, live progress).
"""
