"""The control plane: CLI, publisher, ledger, aggregator and the demo.

Imports `contracts` and `broker_config`, never `workers`: the planes meet only through
messages, and `provision worker|converge|agent` hand over to `python -m workers` (run in
the same process by `producers.entry`, which imports only the standard library).
"""
