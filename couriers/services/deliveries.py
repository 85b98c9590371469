"""One order's delivery made to match one reading of the order, in one transaction with row locks."""

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from couriers.models import Delivery
from couriers.phases import Phase, phase_of
from couriers.services.outbox import EventType, event_record
from couriers.services.outcomes import Outcome
from couriers.services.queue import assign, match_after_commit, pick_courier, release, wait_for_courier

logger = logging.getLogger(__name__)


def delivery_sync(
    *, order_id: str, order_status: str, asked_at: datetime, reopen: bool = False, shortcut: bool = True
) -> Outcome:
    """Make the order's delivery match its actual status at service-order.

    A finished delivery is never reopened by an event: the order's terminal statuses are terminal,
    so an active status read after one was read earlier, by a slower worker. Only an operator
    (reopen=True) brings a cancelled delivery back. `shortcut`: first try recording the reading alone, for
    a delivery it cannot change (False when that was just tried).
    """
    phase = phase_of(order_status)
    if phase is Phase.UNKNOWN:
        logger.warning("order %s has unknown status %r: left as it is", order_id, order_status)
        return Outcome.UNKNOWN_STATUS
    if shortcut and not reopen and _record_observation_if_settled(order_id, phase, order_status, asked_at):
        return Outcome.UNCHANGED
    with transaction.atomic():
        delivery, created = _locked_delivery(order_id, phase, order_status, asked_at)
        if not created and asked_at < delivery.order_checked_at and not reopen:
            return _old_news(delivery)
        if not created:  # a new delivery was made with this reading
            _record_observation(delivery, order_status, asked_at)
        if phase is Phase.ACTIVE:
            return ensure_courier(delivery, created=created, reopen=reopen)
        if created:  # first news of the order is its end: a tombstone, nothing to release
            _record_new(delivery, EventType.COMPLETED if phase is Phase.DONE else EventType.CANCELLED)
            return Outcome.UNCHANGED
        return finish(delivery, phase)


NOT_FOUND_STATUS = "not_found"  # the order_status of a delivery whose first news was service-order's 404


def delivery_order_vanished(*, order_id: str, asked_at: datetime) -> Outcome:
    """service-order does not know the order: cancel our delivery if it was deleted. With none yet, the reading
    is recorded like any other, as a tombstone (cancelled, no courier), so that an older reading of the order
    as active, committed later by another worker, cannot give it a courier."""
    with transaction.atomic():
        delivery, created = Delivery.objects.select_for_update().get_or_create(
            order_id=order_id,
            defaults={
                "status": Delivery.Status.CANCELLED,
                "order_status": NOT_FOUND_STATUS,
                "order_checked_at": asked_at,
                "finished_at": asked_at,
            },
        )
        if created:
            logger.info("order %s not found at service-order: recorded, nothing to cancel", order_id)
            return Outcome.NOT_FOUND
        if asked_at < delivery.order_checked_at:
            return _old_news(delivery)
        _record_observation(delivery, "deleted", asked_at)
        return finish(delivery, Phase.CANCELLED)


def _old_news(delivery: Delivery) -> Outcome:
    """A reading older than the delivery's last one (another worker's, which decided): it changes nothing."""
    logger.debug("order %s: a reading older than the last one recorded, ignored", delivery.order_id)
    return Outcome.UNCHANGED


def _locked_delivery(order_id: str, phase: Phase, order_status: str, asked_at: datetime) -> tuple[Delivery, bool]:
    initial = {
        Phase.ACTIVE: Delivery.Status.AWAITING_COURIER,
        Phase.DONE: Delivery.Status.COMPLETED,
        Phase.CANCELLED: Delivery.Status.CANCELLED,
    }[phase]
    # get_or_create inserts in a savepoint and re-reads (locked) if a concurrent worker inserted first.
    return Delivery.objects.select_for_update().get_or_create(
        order_id=order_id,
        defaults={
            "status": initial,
            "order_status": order_status,
            "order_checked_at": asked_at,
            "finished_at": None if phase is Phase.ACTIVE else asked_at,
        },
    )


# The delivery statuses that a reading of each phase leaves as they are (see ensure_courier and finish).
SETTLED_BY = {
    Phase.ACTIVE: (Delivery.Status.ASSIGNED, Delivery.Status.COMPLETED, Delivery.Status.CANCELLED),
    Phase.DONE: (Delivery.Status.COMPLETED, Delivery.Status.CANCELLED),
    Phase.CANCELLED: (Delivery.Status.COMPLETED, Delivery.Status.CANCELLED),
}


def _record_observation_if_settled(order_id: str, phase: Phase, order_status: str, asked_at: datetime) -> bool:
    """Whether the order's delivery is one this reading cannot change, the reading recorded if so.

    Most events are duplicates about an order that already has its courier: for them one conditional
    UPDATE replaces a transaction of a locking SELECT and an UPDATE. False sends the caller the long way:
    no delivery yet, one waiting for a courier, or a newer reading already recorded.
    """
    settled = Delivery.objects.filter(order_id=order_id, status__in=SETTLED_BY[phase], order_checked_at__lte=asked_at)
    return bool(settled.update(order_status=order_status, order_checked_at=asked_at, updated_at=timezone.now()))


def _record_observation(delivery: Delivery, order_status: str, asked_at: datetime) -> None:
    # Concurrent workers may commit out of order: keep the newest reading.
    if asked_at >= delivery.order_checked_at:
        delivery.order_status = order_status
        delivery.order_checked_at = asked_at
        delivery.save(update_fields=["order_status", "order_checked_at", "updated_at"])


def ensure_courier(delivery: Delivery, *, created: bool, reopen: bool) -> Outcome:
    if delivery.status == Delivery.Status.ASSIGNED:
        return Outcome.UNCHANGED
    if delivery.status == Delivery.Status.COMPLETED:
        return Outcome.UNCHANGED
    if delivery.status == Delivery.Status.CANCELLED and not reopen:
        return Outcome.UNCHANGED
    now = timezone.now()
    courier = pick_courier(now)
    if courier is not None:
        assign(delivery, courier, now)
        return Outcome.ASSIGNED
    was_waiting = delivery.status == Delivery.Status.AWAITING_COURIER and not created
    wait_for_courier(delivery)
    if created:
        _record_new(delivery, EventType.QUEUED)
    match_after_commit()
    return Outcome.UNCHANGED if was_waiting else Outcome.QUEUED


def finish(delivery: Delivery, phase: Phase, *, settled_by: str = "a later read") -> Outcome:
    """End an open delivery, its courier released. `settled_by`: who ended a disputed one (logged)."""
    if delivery.status not in Delivery.OPEN:
        return Outcome.UNCHANGED
    if delivery.disputed:
        logger.warning(
            "dispute over order %s (%s announced) settled by %s: the delivery is %s",
            delivery.order_id,
            delivery.end_announced,
            settled_by,
            "completed" if phase is Phase.DONE else "cancelled",
            extra={"order_id": delivery.order_id},
        )
    now = timezone.now()
    courier = delivery.courier
    delivery.status = Delivery.Status.COMPLETED if phase is Phase.DONE else Delivery.Status.CANCELLED
    delivery.finished_at = now
    event_record(delivery, EventType.COMPLETED if phase is Phase.DONE else EventType.CANCELLED)
    delivery.save(update_fields=["status", "finished_at", "version", "updated_at"])
    if courier is not None:
        release(courier, now)
    return Outcome.COMPLETED if phase is Phase.DONE else Outcome.CANCELLED


def _record_new(delivery: Delivery, event_type: EventType) -> None:
    # A delivery just created in the state it keeps: its event, and version 1, saved here.
    event_record(delivery, event_type)
    delivery.save(update_fields=["version"])
