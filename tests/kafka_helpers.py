"""Producing to and reading from the test broker."""

import json
import time
from uuid import uuid4

from confluent_kafka import Consumer, Message, Producer, TopicPartition


def produce(bootstrap: str, topic: str, values: list[bytes | dict]) -> None:
    """Publish without keys, as service-order does: the partitioner scatters them."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for value in values:
        producer.produce(topic, value if isinstance(value, bytes) else json.dumps(value).encode())
        producer.poll(0)
    assert producer.flush(10) == 0, "events not delivered to the test broker"


def read_all(bootstrap: str, topic: str, expected: int, timeout: float = 20.0) -> list[Message]:
    """Read a topic from the start with a fresh group until `expected` messages came (or time ran out)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid4().hex}",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
        }
    )
    consumer.subscribe([topic])
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                messages.append(message)
        # A little more, to see any message beyond those expected.
        extra = consumer.poll(1.0)
        if extra is not None and extra.error() is None:
            messages.append(extra)
    finally:
        consumer.close()
    return messages


def committed_lag(bootstrap: str, topic: str, group: str) -> int:
    """Messages of the topic that the group has not committed."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        lag = 0
        for tp in committed:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
            lag += high - max(tp.offset, 0)
        return lag
    finally:
        consumer.close()


def topic_size(bootstrap: str, topic: str) -> int:
    """Messages the topic holds (the sum of its partitions' high watermarks, nothing deleted)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"size-{uuid4().hex}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions)
    finally:
        consumer.close()
