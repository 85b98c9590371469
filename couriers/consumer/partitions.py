"""Paused partitions: each waits a growing, jittered time before its events are tried again."""

import logging
import time
from collections.abc import Callable, Iterable

from confluent_kafka import Consumer, TopicPartition

from couriers import metrics
from couriers.consumer.backoff import Backoff

logger = logging.getLogger(__name__)

Partition = tuple[str, int]


class PartitionPauses:
    """Rewinds and pauses partitions, resumes them when due; the wait grows with failures in a row."""

    def __init__(self, consumer: Consumer, backoff: Backoff, clock: Callable[[], float] = time.monotonic) -> None:
        self.consumer = consumer
        self.backoff = backoff
        self.clock = clock
        self.failures: dict[Partition, int] = {}
        self.resume_at: dict[Partition, float] = {}
        self.unfinished: set[Partition] = set()  # rewound, and not yet past the message it was rewound to

    @property
    def any_waiting(self) -> bool:
        """Whether some partition has events to retry: paused, or resumed but not yet read again."""
        return bool(self.resume_at or self.unfinished)

    def pause(self, partition: Partition, offset: int) -> None:
        """Rewind the partition to `offset` (the first event still to do) and pause it."""
        topic_partition = TopicPartition(*partition, offset)
        self.consumer.seek(topic_partition)
        self.consumer.pause([topic_partition])
        self.unfinished.add(partition)
        self._wait(partition)
        metrics.PARTITION_PAUSES.inc()

    def resume_due(self, ready: Callable[[], bool] = lambda: True) -> None:
        """Resume the partitions whose wait is over, if `ready()` says so; otherwise they wait longer."""
        now = self.clock()
        due = [partition for partition, at in self.resume_at.items() if at <= now]
        if not due:
            return
        if not ready():
            for partition in due:
                self._wait(partition)
            return
        for partition in due:
            del self.resume_at[partition]
            metrics.BACKOFF_SECONDS.labels(partition[1]).set(0)
        self.consumer.resume([TopicPartition(topic, p) for topic, p in due])

    def progressed(self, partitions: Iterable[Partition]) -> None:
        """These partitions moved on: their next wait starts small again."""
        for partition in partitions:
            self.failures.pop(partition, None)
            self.unfinished.discard(partition)

    def forget(self, partitions: Iterable[Partition]) -> None:
        """No longer ours (revoked, lost): resumed now, since librdkafka keeps a partition's pause across
        a rebalance, and a paused partition assigned to us again would never be fetched."""
        paused = []
        for partition in partitions:
            self.failures.pop(partition, None)
            self.unfinished.discard(partition)
            if self.resume_at.pop(partition, None) is not None:
                paused.append(TopicPartition(*partition))
                metrics.BACKOFF_SECONDS.labels(partition[1]).set(0)
        if paused:
            self.consumer.resume(paused)

    def _wait(self, partition: Partition) -> None:
        failures = self.failures.get(partition, 0) + 1
        self.failures[partition] = failures
        delay = self.backoff.delay(failures)
        self.resume_at[partition] = self.clock() + delay
        metrics.BACKOFF_SECONDS.labels(partition[1]).set(delay)
        logger.debug("partition %s paused for %.2fs (failure %s)", partition[1], delay, failures)
