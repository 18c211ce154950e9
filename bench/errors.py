"""The one error of the harness: a benchmark that could not be measured, and why."""


class BenchError(Exception):
    """A benchmark could not run or finish; its keys become null with this as the note."""


class ServiceLost(BenchError):
    """RabbitMQ or Redis went away mid-benchmark (restarted by someone else on a shared host).

    The benchmark is run once more before its keys are given up as null.
    """
