"""How far the consumer group has committed: zero lag once every event is processed."""

import logging
from types import TracebackType

from confluent_kafka import Consumer, KafkaException, TopicPartition

logger = logging.getLogger(__name__)


class CommittedLag:
    """Reads a group's committed offsets without joining it (no subscribe: no rebalance for the real consumer)."""

    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        self.topic = topic
        # librdkafka's own log lines go to Python logging (the run's log file), not to the terminal.
        self._client = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "logger": logger})

    def messages(self, timeout: float = 5.0) -> int | None:
        """Messages of the topic that the group has not committed yet; None if the broker did not tell."""
        try:
            return self._lag(timeout)
        except KafkaException as exc:
            logger.warning("committed offsets unknown for now: %s", exc)
            return None

    def _lag(self, timeout: float) -> int:
        partitions = self._client.list_topics(self.topic, timeout=timeout).topics[self.topic].partitions
        committed = self._client.committed([TopicPartition(self.topic, p) for p in partitions], timeout=timeout)
        lag = 0
        for tp in committed:
            _, high = self._client.get_watermark_offsets(TopicPartition(self.topic, tp.partition), timeout=timeout)
            lag += high - max(tp.offset, 0)
        return lag

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "CommittedLag":
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
