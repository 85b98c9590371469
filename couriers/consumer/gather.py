"""Batches that hold the oldest waiting messages of every assigned partition, not a stretch of one.

librdkafka hands messages over a fetch at a time: a stretch of one partition, then one of the next. On a
backlog a batch would then cover one partition's hour while the other partitions wait, and the events of one
order, spread over every partition, would come in as many batches (one check each) as partitions hold them.
The gatherer reads ahead, a few batches' worth, and takes each batch as the oldest messages over all
partitions: the events of one order, close together in time, meet in one batch and cost one check.
"""

import heapq
from collections import deque
from collections.abc import Iterable

from confluent_kafka import Consumer, Message

Partition = tuple[str, int]

READ_AHEAD_BATCHES = 8  # messages held unprocessed, in batches: bounded memory, several fetches of each partition


class Gatherer:
    def __init__(self, consumer: Consumer, *, batch_size: int, poll_timeout: float) -> None:
        self.consumer = consumer
        self.batch_size = batch_size
        self.poll_timeout = poll_timeout
        self.read_ahead = batch_size * READ_AHEAD_BATCHES
        self.waiting: dict[Partition, deque[Message]] = {}
        self.notices: list[Message] = []  # Kafka's own error messages, handed on with the next batch

    def take(self) -> list[Message]:
        """The next batch, oldest first; waits up to the poll timeout for a first message when none is held."""
        if not self._held():
            # One message, not a batch: consume(n, timeout) would wait the whole timeout for n under light traffic.
            self._hold(self.consumer.consume(1, timeout=self.poll_timeout))
        if self.batch_size > 1:
            self._read_ahead()
        notices, self.notices = self.notices, []
        return notices + self._oldest(self.batch_size)

    def forget(self, partitions: Iterable[Partition]) -> None:
        """Drop what is held of these partitions: rewound (they come again from Kafka) or no longer ours."""
        for partition in partitions:
            self.waiting.pop(partition, None)

    def _read_ahead(self) -> None:
        while (room := self.read_ahead - self._held()) > 0:
            messages = self.consumer.consume(min(room, self.batch_size), timeout=0)  # what has arrived, no wait
            if not messages:
                return
            self._hold(messages)

    def _hold(self, messages: list[Message]) -> None:
        for message in messages:
            if message.error() is not None:
                self.notices.append(message)
            else:
                self.waiting.setdefault((message.topic(), message.partition()), deque()).append(message)

    def _held(self) -> int:
        return sum(len(messages) for messages in self.waiting.values())

    def _oldest(self, count: int) -> list[Message]:
        """Up to `count` messages by age over all partitions; each partition's in offset order."""
        heads = [(_age(messages[0]), partition) for partition, messages in self.waiting.items() if messages]
        heapq.heapify(heads)
        batch: list[Message] = []
        while heads and len(batch) < count:
            _, partition = heapq.heappop(heads)
            messages = self.waiting[partition]
            batch.append(messages.popleft())
            if messages:
                heapq.heappush(heads, (_age(messages[0]), partition))
            else:
                del self.waiting[partition]
        return batch


def _age(message: Message) -> tuple[int, int]:
    """Kafka's timestamp, then the offset: where a producer set no timestamp, partitions alternate."""
    _, timestamp = message.timestamp()
    return timestamp, message.offset()
