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


# In an outage's backlog, the lives of about this many orders overlap: an order's events lie within the
# stretch of the stream that this many orders' events take.
BACKLOG_ORDERS_OVERLAPPING = 10


def stream_make(order_ids: Sequence[str], events: int, seed: int) -> list[bytes]:
    """`events` events spread evenly over the orders: each order's lifecycle so far, then duplicates; shuffled."""
    rng = random.Random(seed)
    payloads = [payload for _, payload in _lifecycles(order_ids, events, rng)]
    rng.shuffle(payloads)  # duplicates and disorder across the whole stream
    return payloads


def backlog_stream_make(order_ids: Sequence[str], events: int, seed: int) -> list[bytes]:
    """The same events in the order of time, as they pile up while the consumer is down.

    Order i's events fall at moments drawn between i and i + BACKLOG_ORDERS_OVERLAPPING: each order's
    events lie close together, among those of the orders living at the same time.
    """
    rng = random.Random(seed)
    timed = []
    for index, (order_index, payload) in enumerate(_lifecycles(order_ids, events, rng)):
        timed.append((order_index + rng.uniform(0, BACKLOG_ORDERS_OVERLAPPING), index, payload))
    return [payload for *_, payload in sorted(timed)]


def _lifecycles(order_ids: Sequence[str], events: int, rng: random.Random) -> list[tuple[int, bytes]]:
    """(order index, event): `events` events spread evenly over the orders, each order's lifecycle then duplicates."""
    created_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    payloads = []
    for index, order_id in enumerate(order_ids):
        count = events // len(order_ids) + (index < events % len(order_ids))
        statuses = [*ACTIVE_STATUSES[:count], *rng.choices(ACTIVE_STATUSES, k=max(count - len(ACTIVE_STATUSES), 0))]
        payloads.extend((index, event(order_id, status, created_at)) for status in statuses)
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

    def send_scattered(
        self, topic: str, payloads: Sequence[bytes], partitions: int, seed: int, weights: Sequence[int] | None = None
    ) -> None:
        """Each event to a partition drawn at random (by `weights`, else evenly): events minutes apart in real
        life are not batched to one partition, as a burst without keys is by librdkafka's sticky partitioner."""
        rng = random.Random(seed)
        chosen = rng.choices(range(partitions), weights=weights, k=len(payloads))
        for payload, partition in zip(payloads, chosen, strict=True):
            self._send(topic, payload, partition)
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

    def _send(self, topic: str, payload: bytes, partition: int = -1) -> None:
        while True:
            # The time is set here and kept for the report: the mock broker's reports carry a fake
            # LogAppendTime (1234 ms) instead of the message's CreateTime.
            now = time.time()
            try:
                self._producer.produce(
                    topic,
                    value=payload,
                    partition=partition,  # -1: librdkafka's partitioner chooses
                    timestamp=int(now * 1000),
                    on_delivery=partial(self._delivered, now),
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


def partition_count(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-partitions-{uuid4().hex}"})
    try:
        return len(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
    finally:
        consumer.close()


def first_offsets(bootstrap: str, topic: str) -> list[int]:
    """The oldest offset each partition of `topic` still keeps: all 0 unless the broker dropped events."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-watermarks-{uuid4().hex}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[0] for p in sorted(partitions)]
    finally:
        consumer.close()
