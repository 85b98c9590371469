"""Couriers and the waiting queue: who takes an order, and the queue served first come."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Exists, F, OuterRef, Value, When
from django.utils import timezone

from couriers.models import Courier, Delivery
from couriers.selectors import queued
from couriers.services.outbox import Cause, EventType, caused_by, event_record

logger = logging.getLogger(__name__)


def pick_courier(now: datetime, *, skip_locked: bool = True) -> Courier | None:
    """The free courier with the fewest deliveries today, ties to the one idle longest; row-locked."""
    return next(iter(free_couriers(now, limit=1, skip_locked=skip_locked)), None)


def free_couriers(now: datetime, *, limit: int, skip_locked: bool = True) -> list[Courier]:
    """Up to `limit` free couriers, in the order pick_courier takes them one by one; row-locked."""
    today = timezone.localdate(now)
    holds_delivery = Delivery.objects.filter(courier=OuterRef("pk"), status=Delivery.Status.ASSIGNED)
    return list(
        Courier.objects.select_for_update(skip_locked=skip_locked, of=("self",))
        .filter(status=Courier.Status.AVAILABLE)
        .exclude(Exists(holds_delivery))
        .annotate(load=Case(When(load_date=today, then=F("deliveries_on_load_date")), default=Value(0)))
        .order_by("load", F("idle_since").asc(nulls_first=True), "id")[:limit]
    )


def assign(delivery: Delivery, courier: Courier, now: datetime) -> None:
    today = timezone.localdate(now)
    courier.deliveries_on_load_date = (courier.deliveries_on_load_date if courier.load_date == today else 0) + 1
    courier.load_date = today
    courier.status = Courier.Status.BUSY
    courier.save(update_fields=["status", "load_date", "deliveries_on_load_date", "updated_at"])
    for field, value in assignment_fields(courier, now).items():
        setattr(delivery, field, value)
    event_record(delivery, EventType.ASSIGNED)
    delivery.save(
        update_fields=["courier", "status", "assigned_at", "deadline", "finished_at", "version", "updated_at"]
    )
    logger.debug("order %s assigned to courier %s", delivery.order_id, courier.pk)


def assignment_fields(courier: Courier, now: datetime) -> dict[str, object]:
    """A delivery's fields once `courier` takes it."""
    return {
        "courier": courier,
        "status": Delivery.Status.ASSIGNED,
        "assigned_at": now,
        "deadline": now + timedelta(minutes=settings.DELIVERY_MINUTES[courier.transport_type]),
        "finished_at": None,
    }


def wait_for_courier(delivery: Delivery) -> None:
    # Every field describes the current assignment: a waiting delivery has no courier, no deadline.
    if delivery.status != Delivery.Status.AWAITING_COURIER:
        taken_off = delivery.status == Delivery.Status.ASSIGNED
        delivery.status = Delivery.Status.AWAITING_COURIER
        delivery.courier = None
        delivery.assigned_at = None
        delivery.deadline = None
        delivery.finished_at = None
        event_record(delivery, EventType.UNASSIGNED if taken_off else EventType.QUEUED)
        delivery.save(
            update_fields=["status", "courier", "assigned_at", "deadline", "finished_at", "version", "updated_at"]
        )


def release(courier: Courier, now: datetime) -> None:
    courier.status = Courier.Status.AVAILABLE
    courier.idle_since = now
    courier.save(update_fields=["status", "idle_since", "updated_at"])
    hand_oldest_waiting_order(courier, now)


def hand_oldest_waiting_order(courier: Courier, now: datetime) -> Delivery | None:
    """Called whenever a courier becomes available, by any path: the queue is served first come."""
    waiting = _oldest_waiting(skip_locked=True)
    if waiting is not None:
        assign(waiting, courier, now)
    else:
        match_after_commit()
    return waiting


def _oldest_waiting(*, skip_locked: bool) -> Delivery | None:
    return (
        Delivery.objects.select_for_update(skip_locked=skip_locked, of=("self",))
        .filter(queued())
        .order_by("created_at", "id")
        .first()
    )


def match_after_commit() -> None:
    transaction.on_commit(deliveries_match_waiting)


@caused_by(Cause.MATCHING)
def deliveries_match_waiting() -> int:
    """Pair available couriers with waiting deliveries, oldest delivery first; how many were paired.

    Closes the lost wake-up. The dispatch paths take couriers and waiting deliveries with SKIP LOCKED,
    so that concurrent workers never queue behind each other. That alone can lose a pairing: T1 queues
    order W because every courier is busy or locked in its view, while T2 frees courier C and finds no
    waiting order because W is not committed yet; both commit, and C idles next to W.

    So this step runs after every commit that queues an order, or frees a courier that found no order
    (on_commit). Of two such commits, the step after the later one sees both. It takes its locks in one
    order, the oldest waiting delivery then a courier. The delivery is the oldest nobody else holds (SKIP
    LOCKED: matchers of every replica would otherwise queue on one row, each holding a connection), or,
    when others hold all of them, the oldest, waited for, so that a row another transaction holds is not
    missed. The courier is waited for likewise. Every other path takes a delivery before its courier, or skips
    locked rows for its second lock, so none can wait in the opposite order: no deadlock. One short
    transaction a pair. Nothing is serialised: with no waiting delivery or no free
    courier it is one or two reads without locks, and the common paths (a courier found at once, an
    order handed on release) never call it.
    """
    paired = 0
    while _some_courier_idles_while_an_order_waits():
        with transaction.atomic():
            # Skipping the rows others hold, so that matchers do not all queue on the oldest one; when all are
            # held, waiting for the oldest: its holder may roll back and leave it waiting, unmatched.
            waiting = _oldest_waiting(skip_locked=True) or _oldest_waiting(skip_locked=False)
            now = timezone.now()
            courier = pick_courier(now, skip_locked=False) if waiting is not None else None
            if courier is None:
                return paired
            assign(waiting, courier, now)
        paired += 1
    return paired


def _some_courier_idles_while_an_order_waits() -> bool:
    holds_delivery = Delivery.objects.filter(courier=OuterRef("pk"), status=Delivery.Status.ASSIGNED)
    idle = Courier.objects.filter(status=Courier.Status.AVAILABLE).exclude(Exists(holds_delivery))
    return Delivery.objects.filter(queued()).exists() and idle.exists()
