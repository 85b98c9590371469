"""The delivery events read back from OUTBOX_TOPIC, checked against the database (the demo and the tests)."""

import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from confluent_kafka import Consumer

if TYPE_CHECKING:
    from couriers.models import Delivery


@dataclass
class StreamReport:
    events: int = 0
    duplicates: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_stream(values: Iterable[bytes]) -> StreamReport:
    """Each order's events, in the order read (one partition per order): duplicates are dropped by event id;
    what is left must be versions 1, 2, ... without a gap, the last one the delivery as the database has it,
    and every event the outbox holds must be among them."""
    from couriers.models import Delivery, OutboxEvent

    report = StreamReport()
    seen: set[str] = set()
    by_order: dict[str, list[dict]] = defaultdict(list)
    for value in values:
        event = json.loads(value)
        report.events += 1
        if event["event_id"] in seen:
            report.duplicates += 1
            continue
        seen.add(event["event_id"])
        report.by_type[event["type"]] += 1
        by_order[event["order_id"]].append(event)
    for delivery in Delivery.objects.all():
        report.problems += _order_problems(delivery, by_order.pop(delivery.order_id, []))
    report.problems += [f"order {order_id}: events but no delivery" for order_id in by_order]
    missing = set(OutboxEvent.objects.values_list("event_id", flat=True)) - {UUID(event_id) for event_id in seen}
    report.problems += [f"event {event_id} of the outbox never read" for event_id in sorted(map(str, missing))]
    return report


def _order_problems(delivery: "Delivery", events: list[dict]) -> list[str]:
    versions = [event["version"] for event in events]
    if versions != list(range(1, delivery.version + 1)):
        return [f"order {delivery.order_id}: versions {versions}, the delivery is at {delivery.version}"]
    if not events:
        return []
    last = events[-1]["delivery"]
    courier_id = (last["courier"] or {}).get("id")
    if (last["status"], courier_id) != (delivery.status, delivery.courier_id):
        return [
            f"order {delivery.order_id}: last event says {last['status']} by {courier_id}, "
            f"the delivery is {delivery.status} by {delivery.courier_id}"
        ]
    return []


def read_topic(bootstrap: str, topic: str, *, idle: float = 3.0, timeout: float = 60.0) -> list[bytes]:
    """Every message of the topic, read from the start until none came for `idle` seconds after the first."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"stream-check-{uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    last = None
    try:
        while time.monotonic() < deadline and (last is None or time.monotonic() - last < idle):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                values.append(message.value())
                last = time.monotonic()
    finally:
        consumer.close()
    return values


def wait_for_outbox_drained(timeout: float) -> bool:
    """Whether every outbox row was published within `timeout` seconds."""
    from couriers.models import OutboxEvent

    deadline = time.monotonic() + timeout
    while OutboxEvent.objects.filter(published_at__isnull=True).exists():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True
