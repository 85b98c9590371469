"""The bench's one error."""


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""
