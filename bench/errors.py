"""The one error of the harness: a benchmark that could not be measured, and why."""


class BenchError(Exception):
    """A benchmark could not run or finish; its keys become null with this as the note."""
