"""Order events: ask service-order, then make the order's delivery match its answer.

Rule of the house: never trust an event's status. A reading is what service-order said of an order
when asked; only the reading decides, alone (order_reading_apply) or for many orders of a consumer's
batch at once (order_readings_record_settled, order_readings_start). One exception, with a grace period:
an end an event announced for an order we deliver, which service-order's reads keep contradicting (disputes).
"""

import logging
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import zip_longest

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from couriers.models import Courier, Delivery
from couriers.phases import Phase, phase_of
from couriers.services.deliveries import SETTLED_BY, delivery_order_vanished, delivery_sync
from couriers.services.disputes import announced_end, dispute_apply
from couriers.services.outbox import events_record_started
from couriers.services.outcomes import EventResult, Outcome
from couriers.services.queue import assignment_fields, free_couriers, match_after_commit
from gateway.orders import OrderClient, OrderNotFound

logger = logging.getLogger(__name__)


def order_event_handle(*, order_id: str, event_status: str, client: OrderClient) -> EventResult:
    """Handle "order X changed, the event says S". Raises the gateway's errors when it cannot ask."""
    return order_events_handle(order_id=order_id, event_statuses=[event_status], client=client)


def order_events_handle(*, order_id: str, event_statuses: Sequence[str], client: OrderClient) -> EventResult:
    """Handle one or more events of one order with a single check: only the actual status decides.

    With no events at all it is a plain check of the order (the reconcile sweep).
    """
    return order_reading_apply(reading=order_read(order_id=order_id, event_statuses=event_statuses, client=client))


@dataclass(frozen=True)
class Reading:
    """What service-order said of an order when asked at `asked_at`, and what its events claimed."""

    order_id: str
    event_statuses: tuple[str, ...]
    order_status: str | None  # None: service-order does not know the order
    asked_at: datetime

    @property
    def phase(self) -> Phase | None:
        return None if self.order_status is None else phase_of(self.order_status)

    def is_stale(self) -> bool:
        """Every event says the order ended, service-order says it is active: it lags behind its own event,
        or the events are foreign. The sweep checks again later."""
        return (
            self.phase is Phase.ACTIVE
            and bool(self.event_statuses)
            and all(phase_of(status) in (Phase.DONE, Phase.CANCELLED) for status in self.event_statuses)
        )

    def end_disputed(self) -> str | None:
        """The end an event announced while service-order reads the order active, if any (see disputes)."""
        return announced_end(self.event_statuses) if self.phase is Phase.ACTIVE else None


def order_read(*, order_id: str, event_statuses: Sequence[str], client: OrderClient) -> Reading:
    """Ask service-order for the order's actual status; no database. Raises the gateway's errors."""
    asked_at = timezone.now()
    try:
        order_status: str | None = client.get_order(order_id).status
    except OrderNotFound:
        order_status = None
    return Reading(order_id, tuple(event_statuses), order_status, asked_at)


def order_reading_apply(*, reading: Reading, settled_checked: bool = False) -> EventResult:
    """Make the order's delivery match one reading. `settled_checked`: order_readings_record_settled()
    already found that this reading changes more than the record (it skips the shortcut here)."""
    if reading.order_status is None:
        return EventResult(delivery_order_vanished(order_id=reading.order_id, asked_at=reading.asked_at), None)
    if end := reading.end_disputed():
        outcome = dispute_apply(
            order_id=reading.order_id, order_status=reading.order_status, end=end, asked_at=reading.asked_at
        )
        if outcome is not None:  # None: no open delivery of ours, nothing to dispute
            return EventResult(outcome, reading.order_status)
    if reading.is_stale():
        return EventResult(Outcome.STALE, reading.order_status)
    outcome = delivery_sync(
        order_id=reading.order_id,
        order_status=reading.order_status,
        asked_at=reading.asked_at,
        shortcut=not settled_checked,
    )
    return EventResult(outcome, reading.order_status)


def order_readings_record_settled(*, readings: Sequence[Reading]) -> dict[str, EventResult]:
    """Record at once the readings that cannot change their order's delivery; their results by order id.

    Most events are duplicates about orders that already have their courier (or ended): for them the
    reading is only recorded. Done for many orders at once, that is one short transaction per status read
    instead of a statement per order. The readings left out need order_reading_apply(settled_checked=True).
    """
    by_status: dict[str, list[Reading]] = defaultdict(list)
    for reading in readings:
        if reading.phase not in (None, Phase.UNKNOWN) and not reading.is_stale() and not reading.end_disputed():
            by_status[reading.order_status].append(reading)
    results = {}
    for order_status, group in by_status.items():
        for order_id in _record_settled(order_status, group):
            results[order_id] = EventResult(Outcome.UNCHANGED, order_status)
    return results


def _record_settled(order_status: str, readings: list[Reading]) -> list[str]:
    # The earliest asking time of the group: "no newer reading recorded yet" then holds for each of them.
    asked_at = min(reading.asked_at for reading in readings)
    settled = Delivery.objects.filter(
        order_id__in=[reading.order_id for reading in readings],
        status__in=SETTLED_BY[phase_of(order_status)],
        order_checked_at__lte=asked_at,
    )
    with transaction.atomic():
        # Locked in one order, so that two consumers recording overlapping orders cannot deadlock.
        order_ids = list(settled.select_for_update().order_by("order_id").values_list("order_id", flat=True))
        if order_ids:
            Delivery.objects.filter(order_id__in=order_ids).update(
                order_status=order_status, order_checked_at=asked_at, updated_at=timezone.now()
            )
    return order_ids


def order_readings_start(*, readings: Sequence[Reading]) -> dict[str, EventResult]:
    """Start at once the deliveries of the active orders that have none yet; their results by order id.

    An order's first check costs the most: a delivery created, a courier chosen and locked, both written.
    Done for a batch's new orders together, it is one transaction of four statements: the free couriers
    that pick_courier would take one after the other are taken at once, the deliveries inserted already
    paired with them (the orders left over wait), the couriers marked busy. The readings of orders that have
    a delivery already are left out (order_reading_apply), and all of them are if another worker started
    one of these orders meanwhile.
    """
    active = {r.order_id: r for r in readings if r.phase is Phase.ACTIVE and not r.is_stale()}
    if not active:
        return {}
    try:
        with transaction.atomic():
            known = _with_delivery(active)
            started = _deliveries_start([r for order_id, r in active.items() if order_id not in known])
    except IntegrityError:
        return {}  # a delivery of one of them was created meanwhile: each order is decided alone
    return {d.order_id: EventResult(_START_OUTCOMES[d.status], active[d.order_id].order_status) for d in started}


_START_OUTCOMES = {Delivery.Status.ASSIGNED: Outcome.ASSIGNED, Delivery.Status.AWAITING_COURIER: Outcome.QUEUED}


def _with_delivery(order_ids: Collection[str]) -> set[str]:
    return set(Delivery.objects.filter(order_id__in=list(order_ids)).values_list("order_id", flat=True))


def _deliveries_start(readings: list[Reading]) -> list[Delivery]:
    """New deliveries for these orders (in their arrival order), each with the next free courier, or waiting
    once there is none: first come, first served."""
    if not readings:
        return []
    now = timezone.now()
    couriers = free_couriers(now, limit=len(readings))
    deliveries = [
        Delivery(
            order_id=reading.order_id,
            order_status=reading.order_status,
            order_checked_at=reading.asked_at,
            version=1,
            **(assignment_fields(courier, now) if courier else {"status": Delivery.Status.AWAITING_COURIER}),
        )
        for reading, courier in zip_longest(readings, couriers)
    ]
    # Inserted in the order of the ids, so that two workers starting the same orders cannot deadlock.
    Delivery.objects.bulk_create(sorted(deliveries, key=lambda delivery: delivery.order_id))
    events_record_started(deliveries)
    today = timezone.localdate(now)
    Courier.objects.filter(pk__in=[courier.pk for courier in couriers]).update(
        status=Courier.Status.BUSY,
        deliveries_on_load_date=Case(When(load_date=today, then=F("deliveries_on_load_date") + 1), default=Value(1)),
        load_date=today,
        updated_at=now,
    )
    if len(couriers) < len(readings):
        _queue_in_arrival_order(deliveries[len(couriers) :], now)
        match_after_commit()
    return deliveries


def _queue_in_arrival_order(waiting: list[Delivery], now: datetime) -> None:
    """The queue is served by `created_at`, which the insert gave in id order: set it in arrival order."""
    if len(waiting) > 1:
        arrived = [
            When(pk=delivery.pk, then=Value(now + timedelta(microseconds=i))) for i, delivery in enumerate(waiting)
        ]
        Delivery.objects.filter(pk__in=[delivery.pk for delivery in waiting]).update(created_at=Case(*arrived))
