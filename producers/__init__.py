"""The control plane: CLI, publisher, ledger, aggregator and the demo.

Imports `contracts` and `broker_config`, never `workers`: the planes meet only through
messages, and `provision worker|converge` hand over to `python -m workers` by exec.
"""
