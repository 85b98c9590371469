"""The transactional outbox: each change of a delivery recorded as an event, in the transaction that made it.

Other teams learn from the topic `OUTBOX_TOPIC` that an order got its courier, lost it or ended. The event
row is inserted by the same transaction as the change it reports, so a rollback takes both away and a
commit keeps both; the relay (couriers.relay) publishes the rows afterwards, at least once, in order per
order. The schema is docs/events.md (docs/events.schema.json).

The hooks sit where every path passes: queue.assign, queue.wait_for_courier, deliveries.finish and the
batch start in readings. What caused a change (service-order's reading, the sweep, a dispatcher, the
matching step) is set by the entry points with `caused_by`, and read here.
"""

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.db.models import Count, Exists, Min, OuterRef
from django.utils import timezone

from couriers.models import Delivery, OutboxEvent

SCHEMA = "courier.delivery.changed/1"


class EventType(StrEnum):
    ASSIGNED = "assigned"  # a courier took the order (first, from the queue, or after another was taken off)
    QUEUED = "queued"  # the order waits for a courier
    UNASSIGNED = "unassigned"  # a dispatcher took the courier off: the order waits again, in its place
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    DISPUTED = "disputed"  # an event announced the order's end, service-order reads it active: no new courier
    SETTLED = "settled"  # a dispatcher rejected the announced end: the delivery goes on, and may take a courier


class Cause(StrEnum):
    READING = "reading"  # service-order's answer about the order, asked on its event
    SWEEP = "sweep"  # the same, asked by the reconcile sweep
    DISPATCHER = "dispatcher"  # an operator, through the API or the admin
    MATCHING = "matching"  # the matching step that pairs a free courier with the oldest waiting order
    RULE = "rule"  # a disputed end accepted once it stood for DISPUTE_GRACE


_cause: ContextVar[Cause] = ContextVar("outbox_cause", default=Cause.READING)


@contextmanager
def caused_by(cause: Cause) -> Iterator[None]:
    """The changes made within (a `with` block or a decorated function) are caused by `cause`."""
    token = _cause.set(cause)
    try:
        yield
    finally:
        _cause.reset(token)


def event_record(delivery: Delivery, event_type: EventType) -> None:
    """Record that `delivery` (locked, its fields already changed) changed: its version goes up by one.

    The caller saves the delivery with "version" among its fields, in the same transaction.
    """
    delivery.version += 1
    _row(delivery, event_type, timezone.now()).save(force_insert=True)


def events_record_started(deliveries: Iterable[Delivery]) -> None:
    """Record the events of deliveries just inserted together (version 1 each, set before their insert)."""
    now = timezone.now()
    OutboxEvent.objects.bulk_create([_row(delivery, _START_TYPES[delivery.status], now) for delivery in deliveries])


_START_TYPES = {
    Delivery.Status.ASSIGNED: EventType.ASSIGNED,
    Delivery.Status.AWAITING_COURIER: EventType.QUEUED,
}


def _row(delivery: Delivery, event_type: EventType, now: datetime) -> OutboxEvent:
    event_id = uuid.uuid4()
    return OutboxEvent(
        event_id=event_id,
        order_id=delivery.order_id,
        version=delivery.version,
        type=event_type,
        payload=_payload(delivery, event_type, event_id, now),
        created_at=now,
    )


def _payload(delivery: Delivery, event_type: EventType, event_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    courier = delivery.courier
    return {
        "schema": SCHEMA,
        "event_id": str(event_id),
        "type": str(event_type),
        "order_id": delivery.order_id,
        "version": delivery.version,
        "occurred_at": now.isoformat(),
        "cause": str(_cause.get()),
        "delivery": {
            "status": delivery.status,
            "courier": None if courier is None else {"id": courier.pk, "transport_type": courier.transport_type},
            "order_status": delivery.order.read_status,
            "assigned_at": _iso(delivery.assigned_at),
            "deadline": _iso(delivery.deadline),
            "finished_at": _iso(delivery.finished_at),
        },
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def outbox_claim(*, limit: int) -> list[OutboxEvent]:
    """Waiting rows for one relay, in order, row-locked until the caller's transaction ends.

    Orders are claimed whole: up to `limit` orders whose oldest waiting row no other relay holds (SKIP
    LOCKED), then every waiting row of those orders. A row whose order has an older row waiting is never
    a head, so two relays never hold rows of one order at once and each order's events go out in order.
    """
    older_waiting = OutboxEvent.objects.filter(
        order_id=OuterRef("order_id"), published_at__isnull=True, id__lt=OuterRef("id")
    )
    heads = (
        OutboxEvent.objects.select_for_update(skip_locked=True)
        .filter(published_at__isnull=True)
        .exclude(Exists(older_waiting))
        .order_by("id")
        .values_list("order_id", flat=True)[:limit]
    )
    order_ids = list(heads)
    if not order_ids:
        return []
    return list(
        OutboxEvent.objects.select_for_update().filter(published_at__isnull=True, order_id__in=order_ids).order_by("id")
    )


def outbox_mark_published(*, ids: Iterable[int]) -> int:
    return OutboxEvent.objects.filter(pk__in=list(ids)).update(published_at=timezone.now())


def outbox_prune(*, published_before: datetime) -> int:
    """Delete the rows published before `published_before`; how many."""
    deleted, _ = OutboxEvent.objects.filter(published_at__lt=published_before).delete()
    return deleted


def outbox_waiting() -> tuple[int, float]:
    """How many rows wait for the relay, and the age in seconds of the oldest (0 when none)."""
    waiting = OutboxEvent.objects.filter(published_at__isnull=True).aggregate(n=Count("pk"), oldest=Min("created_at"))
    oldest = waiting["oldest"]
    return waiting["n"], 0.0 if oldest is None else max(0.0, (timezone.now() - oldest).total_seconds())
