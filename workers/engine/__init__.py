"""The engine: converge one target to its desired state, with no broker, Celery or pika.

Layers, lowest first: `hosts/` (reaching a target), `resources/` (one module per kind), then
convergence, readiness, facts, waivers, the target's journal and its lock. Deliberately empty
(no re-exports): importing a subpackage must not pull the whole engine in.
"""
