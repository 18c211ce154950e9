"""Benchmarks: the pipeline, the engine and their baselines, side by side, in one run.

`python -m bench [--quick] [--json] [--install-peers]`. Like the tests, this package sits
outside the import rule of `producers` and `workers`: it drives both, and owns neither.
Every benchmark runs on a RabbitMQ vhost and a Redis database of its own.
"""
