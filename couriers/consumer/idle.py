"""When --idle-exit may fire: only when this consumer has truly nothing left to do.

Idle is not "no message for a while". Between a revocation that leaves it no partition and the next
assignment a consumer receives nothing, yet the group owes it work; a paused or rewound partition, or an order set
aside, has events still to do; and events may sit behind a committed offset that a fetch has not brought
yet. So the clock counts only from the last message or rebalance, and the exit needs the group's committed
offset at the end (lag 0) of every partition of the topic, asked of the broker after committing what is
stored: not only this member's, for partitions not handed out yet (a dead member's, before its session
expires; the second half of an incremental assignment) are the group's work too, and a member that got
none has no say otherwise.
"""

import logging
import time
from collections.abc import Callable
from contextlib import suppress

from confluent_kafka import Consumer, KafkaException, TopicPartition

logger = logging.getLogger(__name__)

BROKER_TIMEOUT = 5.0


class IdleClock:
    def __init__(
        self, consumer: Consumer, idle_exit: float | None, *, topic: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.consumer = consumer
        self.topic = topic
        self.idle_exit = idle_exit
        self.clock = clock
        self.since: float | None = None  # starts at the first assignment: waiting to join is not idleness
        self.rebalancing = False

    def active(self) -> None:
        self.since = self.clock()

    def assigned(self) -> None:
        self.rebalancing = False
        self.active()  # a rebalance is news: the new partitions get their time

    def revoked(self) -> None:
        self.rebalancing = True  # until the next assignment, whatever it holds
        self.active()

    def over(self, *, work_waiting: Callable[[], bool]) -> bool:
        """Whether to exit now; `work_waiting()` says whether events wait for a retry (asked only when due)."""
        if self.rebalancing and self.consumer.assignment():
            self.rebalancing = False  # an incremental revocation (KIP-848, cooperative) leaves partitions ours
        if self.idle_exit is None or self.since is None or self.rebalancing:
            return False
        if self.clock() - self.since < self.idle_exit or work_waiting():
            return False
        return self._caught_up()

    def _caught_up(self) -> bool:
        with suppress(KafkaException):  # raised when nothing was stored since the last commit
            self.consumer.commit(asynchronous=False)
        try:
            committed = self.consumer.committed(self._partitions(), timeout=BROKER_TIMEOUT)
            lags = {tp.partition: self._lag(tp) for tp in committed}
        except KafkaException as exc:
            logger.debug("lag unknown (%s): not idle", exc)
            return False
        behind = {partition: lag for partition, lag in lags.items() if lag > 0}
        if behind:
            logger.debug("idle, but events remain behind committed offsets: %s", behind)
            self.active()  # asked again after another idle period, not every turn
        return not behind

    def _partitions(self) -> list[TopicPartition]:
        """Every partition of the topic, whoever holds it."""
        topic = self.consumer.list_topics(self.topic, timeout=BROKER_TIMEOUT).topics.get(self.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            raise KafkaException(f"no partitions of {self.topic} known")
        return [TopicPartition(self.topic, partition) for partition in sorted(topic.partitions)]

    def _lag(self, committed: TopicPartition) -> int:
        low, high = self.consumer.get_watermark_offsets(
            TopicPartition(committed.topic, committed.partition), timeout=BROKER_TIMEOUT
        )
        return high - (committed.offset if committed.offset >= 0 else low)
