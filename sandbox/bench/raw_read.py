"""How fast a bare confluent-kafka consumer reads the topic, doing nothing with the messages."""

import time
from uuid import uuid4

from confluent_kafka import Consumer, TopicPartition

from sandbox.bench.errors import BenchError
from sandbox.bench.measure import Throughput

TIMEOUT = 120.0


def raw_read(bootstrap: str, topic: str, events: int) -> Throughput:
    """Messages per second from the partition assignment to the last message, as for the consumers."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-raw-{uuid4().hex}",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "enable.auto.commit": False,
        }
    )
    assigned_at: list[float] = []

    def on_assign(_: Consumer, partitions: list[TopicPartition]) -> None:
        assigned_at.append(time.time())

    consumer.subscribe([topic], on_assign=on_assign)
    count, last, deadline = 0, 0.0, time.monotonic() + TIMEOUT
    try:
        while count < events:
            if time.monotonic() > deadline:
                raise BenchError(f"the bare consumer read {count} of {events} events in {TIMEOUT:.0f} s")
            messages = consumer.consume(500, timeout=1.0)
            count += sum(1 for message in messages if message.error() is None)
            last = time.time()
    finally:
        consumer.close()
    return Throughput(count, last - assigned_at[0])
