"""Replaying dead letters: re-publish what the DLQ holds (or part of it) to the main topic.

Reads a snapshot of the DLQ (every partition up to its end at start-up) without a consumer
group's commits, so that replaying twice, or with another filter, always sees the whole DLQ.
Processing is idempotent: an event replayed twice costs a check, nothing more. The DLQ is only read,
never changed: a replay that stops half-way loses nothing and can simply be run again.
"""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import uuid4

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition
from django.utils.dateparse import parse_datetime

from couriers.consumer.dead_letters import CONTENT, DEAD_LETTERED_AT, REASON


@dataclass(frozen=True)
class ReplayFilter:
    reason: str | None = None  # a part of the reason, case-insensitive
    since: datetime | None = None  # dead-lettered at or after
    until: datetime | None = None  # dead-lettered before

    def matches(self, message: Message) -> bool:
        headers = dict(message.headers() or [])
        reason = headers.get(REASON, b"").decode(errors="replace")
        if self.reason and self.reason.lower() not in reason.lower():
            return False
        at = parse_datetime(headers.get(DEAD_LETTERED_AT, b"").decode(errors="replace"))
        if self.since and (at is None or at < self.since):
            return False
        return not (self.until and (at is None or at >= self.until))


class ReplayStopped(Exception):
    """Kafka failed the replay; the message says where."""


@dataclass
class ReplayReport:
    read: int = 0
    replayed: int = 0
    records: int = 0  # records of messages too large for the DLQ: nothing to replay
    reasons: dict[str, int] = field(default_factory=dict)


def replay_dead_letters(
    *,
    config: dict[str, Any],
    dlq_topic: str,
    target_topic: str,
    only: ReplayFilter,
    dry_run: bool = False,
    timeout: float = 30.0,
    before_each: Callable[[Message], object] = lambda message: None,
) -> ReplayReport:
    """Re-publish what the DLQ holds now; `config` reaches the brokers (couriers.consumer.kafka.client_config).
    `before_each` is called with each message about to be re-published."""
    consumer = Consumer({**config, "group.id": f"dlq-replay-{uuid4().hex}", "enable.auto.commit": False})
    producer = Producer({**config, "acks": "all"})
    report = ReplayReport()
    try:
        ends = _assign_snapshot(consumer, dlq_topic)
        for message in _read_until(consumer, ends, timeout):
            report.read += 1
            if dict(message.headers() or []).get(CONTENT) == b"record":
                report.records += 1
                continue
            if not only.matches(message):
                continue
            reason = dict(message.headers() or []).get(REASON, b"").decode(errors="replace")
            report.reasons[reason] = report.reasons.get(reason, 0) + 1
            report.replayed += 1
            if not dry_run:
                before_each(message)
                producer.produce(
                    target_topic, value=message.value(), key=message.key(), headers=_original_headers(message)
                )
                producer.poll(0)
        if producer.flush(timeout) > 0:
            raise ReplayStopped(f"replayed events not confirmed by Kafka within {timeout}s")
    except KafkaException as exc:
        raise ReplayStopped(f"Kafka failed: {exc.args[0].str()}") from exc
    finally:
        consumer.close()
    return report


def _assign_snapshot(consumer: Consumer, topic: str) -> dict[int, int]:
    """Assign every partition of the topic from its start; return where each one ends now."""
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    if metadata.error is not None:
        raise ReplayStopped(f"cannot read {topic}: {metadata.error.str()}")
    ends, starts = {}, []
    for partition in metadata.partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        if high > low:
            ends[partition] = high
            starts.append(TopicPartition(topic, partition, low))
    consumer.assign(starts)
    return ends


def _read_until(consumer: Consumer, ends: dict[int, int], timeout: float) -> Iterator[Message]:
    remaining = dict(ends)
    deadline = time.monotonic() + timeout
    while remaining:
        if time.monotonic() > deadline:
            raise ReplayStopped(f"DLQ not read to its end within {timeout}s: partitions {sorted(remaining)} left")
        message = consumer.poll(0.5)
        if message is None or message.error() is not None:
            continue
        deadline = time.monotonic() + timeout
        if message.partition() in remaining:
            yield message
            if message.offset() + 1 >= remaining[message.partition()]:
                del remaining[message.partition()]


def _original_headers(message: Message) -> list[tuple[str, bytes]]:
    return [(key, value) for key, value in (message.headers() or []) if not key.startswith("dlq.")]
