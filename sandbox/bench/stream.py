"""The benchmark's event stream: active statuses of real orders, duplicated and shuffled, produced without keys."""

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from uuid import uuid4

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from sandbox.chaos import event

# What service-order sends before an order leaves the kitchen: every one of them says "active".
ACTIVE_STATUSES = ("created", "pending", "confirmed", "cooking")


def stream_make(order_ids: Sequence[str], events: int, seed: int) -> list[bytes]:
    """`events` events spread evenly over the orders: each order's lifecycle so far, then duplicates; shuffled."""
    rng = random.Random(seed)
    created_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    payloads = []
    for index, order_id in enumerate(order_ids):
        count = events // len(order_ids) + (index < events % len(order_ids))
        statuses = [*ACTIVE_STATUSES[:count], *rng.choices(ACTIVE_STATUSES, k=max(count - len(ACTIVE_STATUSES), 0))]
        payloads.extend(event(order_id, status, created_at) for status in statuses)
    rng.shuffle(payloads)  # duplicates and disorder across the whole stream
    return payloads


@dataclass(frozen=True)
class Produced:
    """A delivery report: where the event landed, and when produce() was called (its Kafka timestamp)."""

    partition: int
    offset: int
    timestamp: float  # seconds since the epoch


class StreamProducer:
    """Writes like service-order does: JSON values, no key, acks=all; keeps every delivery report."""

    def __init__(self, bootstrap: str) -> None:
        self.produced: list[Produced] = []
        self.failed = 0
        self._producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})

    def send_all(self, topic: str, payloads: Sequence[bytes]) -> None:
        for payload in payloads:
            self._send(topic, payload)
        self._flush()

    def send_paced(self, topic: str, payloads: Sequence[bytes], rate: float) -> None:
        """One event every 1/rate seconds, on a schedule: a late send does not shift the ones after it."""
        started = time.monotonic()
        for index, payload in enumerate(payloads):
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._send(topic, payload)
            self._producer.poll(0)
        self._flush()

    def _send(self, topic: str, payload: bytes) -> None:
        while True:
            # The time is set here and kept for the report: the mock broker's reports carry a fake
            # LogAppendTime (1234 ms) instead of the message's CreateTime.
            now = time.time()
            try:
                self._producer.produce(
                    topic, value=payload, timestamp=int(now * 1000), on_delivery=partial(self._delivered, now)
                )
                return
            except BufferError:  # the local queue is full: let deliveries drain it
                self._producer.poll(0.1)

    def _delivered(self, produced_at: float, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.failed += 1
            return
        self.produced.append(Produced(message.partition(), message.offset(), produced_at))

    def _flush(self) -> None:
        left = self._producer.flush(60)
        if left or self.failed:
            raise RuntimeError(f"{left + self.failed} events not delivered to Kafka")


def first_offsets(bootstrap: str, topic: str) -> list[int]:
    """The oldest offset each partition of `topic` still keeps: all 0 unless the broker dropped events."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-watermarks-{uuid4().hex}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[0] for p in sorted(partitions)]
    finally:
        consumer.close()
