"""`provision dashboard`: a small live web app for on-call, reading the system of record.

`app` (routes), `pages` (escaped templates and the live sections), `streams` (server-sent
events), `queries` (what is read from PostgreSQL), `letters` (the dead letters),
`operator` (the one role that may act, and how it is proven).
"""
