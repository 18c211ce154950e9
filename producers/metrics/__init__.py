"""The control plane's Prometheus endpoints: the controller's and the aggregator's metrics.

Names, labels and help texts are data in `contracts.metrics`; `registry` registers the
ones a process exports and serves them (`--metrics-port`), `gauges` refreshes the
controller's gauges from its loop.
"""
