"""Test data written straight to the database, for states the services reach only step by step."""

import itertools
from datetime import datetime, timedelta

from django.utils import timezone

from couriers.models import Courier, Delivery, OrderKnowledge

_numbers = itertools.count(1)


def create_courier(
    *, name: str = "Courier", phone: str | None = None, transport_type: str = "scooter", status: str = "available"
) -> Courier:
    return Courier.objects.create(
        name=name,
        phone=phone or f"+7999{next(_numbers):07d}",
        transport_type=transport_type,
        status=status,
        idle_since=timezone.now(),
    )


def create_delivery(
    *,
    order_id: str | None = None,
    courier: Courier | None = None,
    status: str | None = None,
    order_status: str = "cooking",
    deadline: datetime | None = None,
) -> Delivery:
    """Awaiting a courier by default; assigned (and the courier busy) when given a courier."""
    now = timezone.now()
    if status is None:
        status = Delivery.Status.ASSIGNED if courier else Delivery.Status.AWAITING_COURIER
    assigned = status == Delivery.Status.ASSIGNED
    if assigned and courier is not None:
        Courier.objects.filter(pk=courier.pk).update(status=Courier.Status.BUSY)
        courier.refresh_from_db()
    known = OrderKnowledge.objects.create(
        order_id=order_id or f"order-{next(_numbers)}", read_status=order_status, read_at=now
    )
    return Delivery.objects.create(
        order=known,
        courier=courier,
        status=status,
        assigned_at=now if courier else None,
        deadline=(deadline or now + timedelta(minutes=15)) if courier else None,
        finished_at=None if status in Delivery.OPEN else now,
    )


def announce_end(delivery: Delivery, end: str = "completed", *, at: datetime | None = None) -> None:
    """An event announced the order's end (`at`: first seen then) while service-order reads it active."""
    OrderKnowledge.objects.filter(order_id=delivery.order_id).update(
        end_announced=end, end_announced_at=at or timezone.now()
    )
    delivery.order.refresh_from_db()
