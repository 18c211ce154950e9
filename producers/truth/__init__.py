"""The source of truth: load and check a directory, render per target, store revisions.

`source.load(DIR)` validates a whole directory or refuses it with every problem listed;
`render.render_bytes` is the one function that turns a bundle into what a target gets;
`revisions.RevisionStore` keeps immutable, numbered revisions in PostgreSQL and the rendered
bytes of every target, so push and pull hand out the very same bytes.

Control plane only: imports `contracts`, never `workers`.
"""
