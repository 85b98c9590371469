"""Test data written straight to the database, for states the services reach only step by step."""

import itertools
from datetime import datetime, timedelta

from django.utils import timezone

from couriers.models import Courier, Delivery

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
    return Delivery.objects.create(
        order_id=order_id or f"order-{next(_numbers)}",
        courier=courier,
        status=status,
        order_status=order_status,
        order_checked_at=now,
        assigned_at=now if courier else None,
        deadline=(deadline or now + timedelta(minutes=15)) if courier else None,
        finished_at=None if status in Delivery.OPEN else now,
    )
