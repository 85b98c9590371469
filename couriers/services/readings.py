"""Order events: ask service-order, then make the order's delivery match what we know of the order.

Rule of the house: never trust an event's status. A reading is what service-order said of an order when
asked, with the events' claims beside it; it is merged into the order's knowledge, which alone decides
(services/knowledge.py), one order at a time (order_reading_apply) or for many orders of a consumer's batch
at once when nothing but the answer can matter (order_readings_record_settled, order_readings_start).
"""

import logging
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from itertools import zip_longest

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from couriers.models import Courier, Delivery, OrderKnowledge
from couriers.phases import ENDED_READS, Phase
from couriers.services.deliveries import SETTLED_BY, order_decide
from couriers.services.knowledge import Reading
from couriers.services.outbox import events_record_started
from couriers.services.outcomes import EventResult, Outcome
from couriers.services.queue import assignment_fields, free_couriers, match_after_commit
from gateway.orders import OrderClient, OrderNotFound

logger = logging.getLogger(__name__)


def order_event_handle(
    *, order_id: str, event_status: str, client: OrderClient, produced_at: datetime | None = None
) -> EventResult:
    """Handle "order X changed, the event says S". Raises the gateway's errors when it cannot ask."""
    return order_events_handle(order_id=order_id, event_statuses=[event_status], client=client, produced_at=produced_at)


def order_events_handle(
    *, order_id: str, event_statuses: Sequence[str], client: OrderClient, produced_at: datetime | None = None
) -> EventResult:
    """Handle one or more events of one order with a single check. With no events at all it is a plain check
    of the order (the reconcile sweep). `produced_at`: when the newest event was produced, if known."""
    reading = order_read(order_id=order_id, event_statuses=event_statuses, client=client, produced_at=produced_at)
    return order_reading_apply(reading=reading)


def order_read(
    *, order_id: str, event_statuses: Sequence[str], client: OrderClient, produced_at: datetime | None = None
) -> Reading:
    """Ask service-order for the order's actual status; no database. Raises the gateway's errors."""
    asked_at = timezone.now()
    try:
        order_status: str | None = client.get_order(order_id).status
    except OrderNotFound:
        order_status = None
    return Reading(order_id, tuple(event_statuses), order_status, asked_at, produced_at)


def order_reading_apply(*, reading: Reading) -> EventResult:
    """Merge one reading into its order's knowledge and make the delivery what the knowledge asks."""
    return EventResult(order_decide(reading=reading), reading.order_status)


def _answer_only(reading: Reading) -> bool:
    """Whether the reading brings nothing but service-order's answer (no end an event announced)."""
    return reading.phase is not Phase.UNKNOWN and reading.announced_end is None


def order_readings_record_settled(*, readings: Sequence[Reading]) -> dict[str, EventResult]:
    """Record at once the readings that cannot change their order's delivery; their results by order id.

    Most events are duplicates about orders that already have their courier (or ended): for them the
    answer is only recorded in the order's knowledge. Done for many orders at once, that is one short
    transaction per status read instead of one per order. Left out: a reading with an announced end, an
    order in dispute, an answer older than the one recorded; they need order_reading_apply().
    """
    by_status: dict[str, list[Reading]] = defaultdict(list)
    for reading in readings:
        if _answer_only(reading):
            by_status[reading.read_status].append(reading)
    results = {}
    for read_status, group in by_status.items():
        for order_id in _record_settled(group):
            results[order_id] = EventResult(_SETTLED_OUTCOME.get(read_status, Outcome.UNCHANGED), group[0].order_status)
    return results


_SETTLED_OUTCOME = {OrderKnowledge.NOT_FOUND: Outcome.NOT_FOUND}


def _record_settled(readings: list[Reading]) -> list[str]:
    """The orders whose knowledge took these answers (all of one status) and whose delivery they leave as is."""
    # The earliest asking time of the group: "no newer answer recorded yet" then holds for each of them.
    asked_at = min(reading.asked_at for reading in readings)
    phase = readings[0].phase
    leaves_as_is = Q(delivery__status__in=SETTLED_BY[phase])
    if phase is Phase.ACTIVE:
        leaves_as_is &= ~Q(read_status__in=ENDED_READS)  # an ended order stays ended (knowledge._replaces)
    else:
        leaves_as_is |= Q(delivery__isnull=True)  # an end with no delivery of ours: nothing to end
    settled = OrderKnowledge.objects.filter(
        leaves_as_is, order_id__in=[reading.order_id for reading in readings], end_announced="", read_at__lte=asked_at
    )
    with transaction.atomic():
        # Locked in one order, so that two consumers recording overlapping orders cannot deadlock.
        locked = settled.select_for_update(of=("self",)).order_by("order_id").values_list("order_id", flat=True)
        order_ids = list(locked)
        if order_ids:
            OrderKnowledge.objects.filter(order_id__in=order_ids).update(
                read_status=readings[0].read_status, read_at=asked_at, updated_at=timezone.now()
            )
    return order_ids


def order_readings_start(*, readings: Sequence[Reading]) -> dict[str, EventResult]:
    """Start at once the deliveries of the active orders new to us; their results by order id.

    An order's first check costs the most: its knowledge and its delivery created, a courier chosen and
    locked, all written. Done for a batch's new orders together, it is one transaction of a few statements:
    the free couriers that pick_courier would take one after the other are taken at once, the deliveries
    inserted already paired with them (the orders left over wait), the couriers marked busy. Left out: the
    orders we know already, and those whose events announced an end (order_reading_apply); all of them if
    another worker started one of these orders meanwhile.
    """
    fresh = {r.order_id: r for r in readings if r.phase is Phase.ACTIVE and r.announced_end is None}
    if not fresh:
        return {}
    try:
        with transaction.atomic():
            known = _known(fresh)
            started = _deliveries_start([r for order_id, r in fresh.items() if order_id not in known])
    except IntegrityError:
        return {}  # one of them became known meanwhile: each order is decided alone
    return {d.order_id: EventResult(_START_OUTCOMES[d.status], fresh[d.order_id].order_status) for d in started}


_START_OUTCOMES = {Delivery.Status.ASSIGNED: Outcome.ASSIGNED, Delivery.Status.AWAITING_COURIER: Outcome.QUEUED}


def _known(order_ids: Collection[str]) -> set[str]:
    return set(OrderKnowledge.objects.filter(order_id__in=list(order_ids)).values_list("order_id", flat=True))


def _deliveries_start(readings: list[Reading]) -> list[Delivery]:
    """New deliveries for these orders (in their arrival order), each with the next free courier, or waiting
    once there is none: first come, first served."""
    if not readings:
        return []
    now = timezone.now()
    couriers = free_couriers(now, limit=len(readings))
    # Inserted in the order of the ids, so that two workers starting the same orders cannot deadlock.
    knowledge = [OrderKnowledge(order_id=r.order_id, read_status=r.read_status, read_at=r.asked_at) for r in readings]
    OrderKnowledge.objects.bulk_create(sorted(knowledge, key=lambda known: known.order_id))
    deliveries = [
        Delivery(
            order=known,
            version=1,
            **(assignment_fields(courier, now) if courier else {"status": Delivery.Status.AWAITING_COURIER}),
        )
        for known, courier in zip_longest(knowledge, couriers)
    ]
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
