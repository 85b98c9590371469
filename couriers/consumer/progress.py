"""How far each partition of a batch got: past its last message, or back to the first one still to do."""

from collections.abc import Iterable

from confluent_kafka import Message, TopicPartition

from couriers.consumer.partitions import Partition


class BatchProgress:
    def __init__(self, messages: Iterable[Message]) -> None:
        self.ends: dict[Partition, int] = {}  # the offset after the partition's last message in the batch
        for message in messages:
            partition = (message.topic(), message.partition())
            self.ends[partition] = max(self.ends.get(partition, 0), message.offset() + 1)
        self.retry_from: dict[Partition, int] = {}

    def retry(self, topic: str, partition: int, offset: int) -> None:
        """This message is not done: its partition's progress stops before it."""
        key = (topic, partition)
        self.retry_from[key] = min(offset, self.retry_from.get(key, offset))

    def offsets(self) -> list[TopicPartition]:
        """What to store: everything before the first message still to do, per partition."""
        return [TopicPartition(topic, p, self.retry_from.get((topic, p), end)) for (topic, p), end in self.ends.items()]

    def finished(self) -> list[Partition]:
        """Partitions whose every message of the batch is done."""
        return [partition for partition in self.ends if partition not in self.retry_from]
