"""Reading a test topic back."""

import time
from uuid import uuid4

from confluent_kafka import Consumer, Message, TopicPartition


def consume(bootstrap: str, topic: str, count: int, timeout: float = 20.0) -> tuple[list[Message], int]:
    """The topic's first `count` messages from every partition, and how many the topic holds in all."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid4().hex}",
            "session.timeout.ms": 6000,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        # Assigned by hand: no group join to wait for, and every partition is read.
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        partitions = [TopicPartition(topic, partition) for partition in metadata.partitions]
        consumer.assign(partitions)
        messages: list[Message] = []
        deadline = time.monotonic() + timeout
        while len(messages) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                messages.append(message)
        total = sum(consumer.get_watermark_offsets(partition, timeout=10)[1] for partition in partitions)
        return messages, total
    finally:
        consumer.close()
