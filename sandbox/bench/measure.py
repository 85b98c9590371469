"""The figures: rates over measured windows, and latency percentiles."""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sandbox.bench.consumer_process import EventLog
from sandbox.bench.stream import Produced


@dataclass(frozen=True)
class Throughput:
    count: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


def consumer_throughput(log: EventLog) -> Throughput:
    """Distinct events committed, over the time from partition assignment to the last event's commit.

    The window starts at the assignment, not at the first commit: the consumer logs a batch only once
    the whole batch is done, so the first log line comes after work that must be counted.
    """
    assert log.assigned_at is not None
    return Throughput(len(log.committed_at), log.last_commit - log.assigned_at)


@dataclass(frozen=True)
class Latency:
    """From production (the produce() call, also the message's Kafka timestamp) to commit (the log line), in ms."""

    events: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def latency(produced: Sequence[Produced], committed_at: Mapping[tuple[int, int], float]) -> Latency:
    delays = sorted(committed_at[(p.partition, p.offset)] - p.timestamp for p in produced)
    return Latency(
        len(delays),
        _percentile(delays, 50) * 1000,
        _percentile(delays, 95) * 1000,
        _percentile(delays, 99) * 1000,
        delays[-1] * 1000,
    )


def _percentile(ordered: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile: a value that was actually observed."""
    rank = max(math.ceil(percent / 100 * len(ordered)), 1)
    return ordered[rank - 1]
