"""Operators' fleet: couriers created, changed, paused, made available, deleted."""

from django.db import transaction
from django.utils import timezone

from couriers.errors import Conflict, NotFound
from couriers.models import Courier
from couriers.services.outbox import Cause, caused_by
from couriers.services.queue import hand_oldest_waiting_order


@caused_by(Cause.DISPATCHER)
def courier_create(*, name: str, phone: str, transport_type: str, status: str = Courier.Status.AVAILABLE) -> Courier:
    if status not in (Courier.Status.AVAILABLE, Courier.Status.PAUSED):
        raise Conflict("a new courier is available or paused", code="invalid_status")
    now = timezone.now()
    with transaction.atomic():
        courier = Courier(name=name, phone=phone, transport_type=transport_type, status=status, idle_since=now)
        courier.full_clean()
        courier.save()
        if status == Courier.Status.AVAILABLE:
            hand_oldest_waiting_order(courier, now)
    return courier


@caused_by(Cause.DISPATCHER)
def courier_update(
    *,
    courier_id: int,
    name: str | None = None,
    phone: str | None = None,
    transport_type: str | None = None,
    status: str | None = None,
) -> Courier:
    """Change a courier's details and, through pause or make available, its status."""
    with transaction.atomic():
        courier = locked_courier(courier_id)
        details = {"name": name, "phone": phone, "transport_type": transport_type}
        for field, value in details.items():
            if value is not None:
                setattr(courier, field, value)
        courier.full_clean()
        courier.save()
        if status is None or status == courier.status:
            return courier
        if status == Courier.Status.PAUSED:
            return _pause(courier)
        if status == Courier.Status.AVAILABLE:
            return _make_available(courier)
        raise Conflict(f"status {status!r} is the service's to set", code="invalid_status")


def courier_pause(*, courier_id: int) -> Courier:
    with transaction.atomic():
        return _pause(locked_courier(courier_id))


@caused_by(Cause.DISPATCHER)
def courier_make_available(*, courier_id: int) -> Courier:
    with transaction.atomic():
        return _make_available(locked_courier(courier_id))


def courier_delete(*, courier_id: int) -> None:
    with transaction.atomic():
        courier = locked_courier(courier_id)
        if courier.deliveries.exists():
            raise Conflict(
                "a courier with deliveries keeps its history: pause it instead", code="courier_has_deliveries"
            )
        courier.delete()


def locked_courier(courier_id: int) -> Courier:
    courier = Courier.objects.select_for_update().filter(pk=courier_id).first()
    if courier is None:
        raise NotFound(f"courier {courier_id} does not exist", code="courier_not_found")
    return courier


def _pause(courier: Courier) -> Courier:
    if courier.status == Courier.Status.BUSY:
        raise Conflict("the courier is on a delivery: pause it once the delivery ends", code="courier_busy")
    if courier.status != Courier.Status.PAUSED:
        courier.status = Courier.Status.PAUSED
        courier.save(update_fields=["status", "updated_at"])
    return courier


def _make_available(courier: Courier) -> Courier:
    if courier.status == Courier.Status.BUSY:
        raise Conflict("the courier is on a delivery: it becomes available when it ends", code="courier_busy")
    if courier.status == Courier.Status.PAUSED:
        now = timezone.now()
        courier.status = Courier.Status.AVAILABLE
        courier.idle_since = now
        courier.save(update_fields=["status", "idle_since", "updated_at"])
        hand_oldest_waiting_order(courier, now)
    return courier
