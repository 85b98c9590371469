"""Dispatch decisions. Every change to couriers and deliveries goes through these functions.

Rule of the house: never trust an event's status. Ask service-order (through an OrderClient)
and make the delivery match the order's actual phase, in one transaction with row locks.
"""

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import zip_longest

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, Exists, F, OuterRef, Value, When
from django.utils import timezone

from couriers import metrics
from couriers.errors import Conflict, NotFound
from couriers.models import Courier, Delivery, OrderFailure
from couriers.phases import Phase, phase_of
from couriers.selectors import delivery_due_for_check, delivery_overdue
from gateway.orders import RETRY_LATER, OrderClient, OrderNotFound, OrderRequestRejected

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    ASSIGNED = "assigned"
    QUEUED = "queued"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    UNCHANGED = "unchanged"
    STALE = "stale"
    NOT_FOUND = "not_found"
    UNKNOWN_STATUS = "unknown_status"


@dataclass(frozen=True)
class EventResult:
    outcome: Outcome
    order_status: str | None  # what service-order said; None when it does not know the order


# --- Order events -----------------------------------------------------------


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
        if reading.phase not in (None, Phase.UNKNOWN) and not reading.is_stale():
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
        status__in=_SETTLED_BY[phase_of(order_status)],
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
    that _pick_courier would take one after the other are taken at once, the deliveries inserted already
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
    """New deliveries for these orders, each with the next free courier, or waiting once there is none."""
    if not readings:
        return []
    now = timezone.now()
    couriers = _free_couriers(now, limit=len(readings))
    # In the order of the ids, so that two workers starting the same orders cannot deadlock on the inserts.
    in_id_order = sorted(readings, key=lambda reading: reading.order_id)
    deliveries = [
        Delivery(
            order_id=reading.order_id,
            order_status=reading.order_status,
            order_checked_at=reading.asked_at,
            **(_assignment(courier, now) if courier else {"status": Delivery.Status.AWAITING_COURIER}),
        )
        for reading, courier in zip_longest(in_id_order, couriers)
    ]
    Delivery.objects.bulk_create(deliveries)
    today = timezone.localdate(now)
    Courier.objects.filter(pk__in=[courier.pk for courier in couriers]).update(
        status=Courier.Status.BUSY,
        deliveries_on_load_date=Case(When(load_date=today, then=F("deliveries_on_load_date") + 1), default=Value(1)),
        load_date=today,
        updated_at=now,
    )
    if len(couriers) < len(readings):
        _match_after_commit()
    return deliveries


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
        if not created:  # a new delivery was made with this reading
            _record_observation(delivery, order_status, asked_at)
        if phase is Phase.ACTIVE:
            return _ensure_courier(delivery, created=created, reopen=reopen)
        if created:
            return Outcome.UNCHANGED  # first news of the order is its end: a tombstone, nothing to release
        return _finish(delivery, phase)


def delivery_order_vanished(*, order_id: str, asked_at: datetime) -> Outcome:
    """service-order does not know the order: skip it, or cancel our delivery if it was deleted."""
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().filter(order_id=order_id).first()
        if delivery is None:
            logger.info("order %s not found at service-order: skipped", order_id)
            return Outcome.NOT_FOUND
        _record_observation(delivery, "deleted", asked_at)
        return _finish(delivery, Phase.CANCELLED)


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


# The delivery statuses that a reading of each phase leaves as they are (see _ensure_courier and _finish).
_SETTLED_BY = {
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
    settled = Delivery.objects.filter(order_id=order_id, status__in=_SETTLED_BY[phase], order_checked_at__lte=asked_at)
    return bool(settled.update(order_status=order_status, order_checked_at=asked_at, updated_at=timezone.now()))


def _record_observation(delivery: Delivery, order_status: str, asked_at: datetime) -> None:
    # Concurrent workers may commit out of order: keep the newest reading.
    if asked_at >= delivery.order_checked_at:
        delivery.order_status = order_status
        delivery.order_checked_at = asked_at
        delivery.save(update_fields=["order_status", "order_checked_at", "updated_at"])


def _ensure_courier(delivery: Delivery, *, created: bool, reopen: bool) -> Outcome:
    if delivery.status == Delivery.Status.ASSIGNED:
        return Outcome.UNCHANGED
    if delivery.status == Delivery.Status.COMPLETED:
        return Outcome.UNCHANGED
    if delivery.status == Delivery.Status.CANCELLED and not reopen:
        return Outcome.UNCHANGED
    now = timezone.now()
    courier = _pick_courier(now)
    if courier is not None:
        _assign(delivery, courier, now)
        return Outcome.ASSIGNED
    was_waiting = delivery.status == Delivery.Status.AWAITING_COURIER and not created
    _wait_for_courier(delivery)
    _match_after_commit()
    return Outcome.UNCHANGED if was_waiting else Outcome.QUEUED


def _finish(delivery: Delivery, phase: Phase) -> Outcome:
    if delivery.status not in Delivery.OPEN:
        return Outcome.UNCHANGED
    now = timezone.now()
    courier = delivery.courier
    delivery.status = Delivery.Status.COMPLETED if phase is Phase.DONE else Delivery.Status.CANCELLED
    delivery.finished_at = now
    delivery.save(update_fields=["status", "finished_at", "updated_at"])
    if courier is not None:
        _release(courier, now)
    return Outcome.COMPLETED if phase is Phase.DONE else Outcome.CANCELLED


# --- Couriers and the waiting queue -----------------------------------------


def _pick_courier(now: datetime, *, skip_locked: bool = True) -> Courier | None:
    """The free courier with the fewest deliveries today, ties to the one idle longest; row-locked."""
    return next(iter(_free_couriers(now, limit=1, skip_locked=skip_locked)), None)


def _free_couriers(now: datetime, *, limit: int, skip_locked: bool = True) -> list[Courier]:
    """Up to `limit` free couriers, in the order _pick_courier takes them one by one; row-locked."""
    today = timezone.localdate(now)
    holds_delivery = Delivery.objects.filter(courier=OuterRef("pk"), status=Delivery.Status.ASSIGNED)
    return list(
        Courier.objects.select_for_update(skip_locked=skip_locked, of=("self",))
        .filter(status=Courier.Status.AVAILABLE)
        .exclude(Exists(holds_delivery))
        .annotate(load=Case(When(load_date=today, then=F("deliveries_on_load_date")), default=Value(0)))
        .order_by("load", F("idle_since").asc(nulls_first=True), "id")[:limit]
    )


def _assign(delivery: Delivery, courier: Courier, now: datetime) -> None:
    today = timezone.localdate(now)
    courier.deliveries_on_load_date = (courier.deliveries_on_load_date if courier.load_date == today else 0) + 1
    courier.load_date = today
    courier.status = Courier.Status.BUSY
    courier.save(update_fields=["status", "load_date", "deliveries_on_load_date", "updated_at"])
    for field, value in _assignment(courier, now).items():
        setattr(delivery, field, value)
    delivery.save(update_fields=["courier", "status", "assigned_at", "deadline", "finished_at", "updated_at"])
    logger.debug("order %s assigned to courier %s", delivery.order_id, courier.pk)


def _assignment(courier: Courier, now: datetime) -> dict[str, object]:
    """A delivery's fields once `courier` takes it."""
    return {
        "courier": courier,
        "status": Delivery.Status.ASSIGNED,
        "assigned_at": now,
        "deadline": now + timedelta(minutes=settings.DELIVERY_MINUTES[courier.transport_type]),
        "finished_at": None,
    }


def _wait_for_courier(delivery: Delivery) -> None:
    # Every field describes the current assignment: a waiting delivery has no courier, no deadline.
    if delivery.status != Delivery.Status.AWAITING_COURIER:
        delivery.status = Delivery.Status.AWAITING_COURIER
        delivery.courier = None
        delivery.assigned_at = None
        delivery.deadline = None
        delivery.finished_at = None
        delivery.save(update_fields=["status", "courier", "assigned_at", "deadline", "finished_at", "updated_at"])


def _release(courier: Courier, now: datetime) -> None:
    courier.status = Courier.Status.AVAILABLE
    courier.idle_since = now
    courier.save(update_fields=["status", "idle_since", "updated_at"])
    _hand_oldest_waiting_order(courier, now)


def _hand_oldest_waiting_order(courier: Courier, now: datetime) -> Delivery | None:
    """Called whenever a courier becomes available, by any path: the queue is served first come."""
    waiting = _oldest_waiting(skip_locked=True)
    if waiting is not None:
        _assign(waiting, courier, now)
    else:
        _match_after_commit()
    return waiting


def _oldest_waiting(*, skip_locked: bool) -> Delivery | None:
    return (
        Delivery.objects.select_for_update(skip_locked=skip_locked)
        .filter(status=Delivery.Status.AWAITING_COURIER)
        .order_by("created_at", "id")
        .first()
    )


def _match_after_commit() -> None:
    transaction.on_commit(deliveries_match_waiting)


def deliveries_match_waiting() -> int:
    """Pair available couriers with waiting deliveries, oldest delivery first; how many were paired.

    Closes the lost wake-up. The dispatch paths take couriers and waiting deliveries with SKIP LOCKED,
    so that concurrent workers never queue behind each other. That alone can lose a pairing: T1 queues
    order W because every courier is busy or locked in its view, while T2 frees courier C and finds no
    waiting order because W is not committed yet; both commit, and C idles next to W.

    So this step runs after every commit that queues an order, or frees a courier that found no order
    (on_commit). Of two such commits, the step after the later one sees both. It takes its locks in one
    order, the oldest waiting delivery then a courier, and waits for them instead of skipping, so a row
    another transaction holds is not missed either. Every other path takes a delivery before its courier,
    or skips locked rows for its second lock, so none can wait in the opposite order: no deadlock. One
    short transaction a pair. Nothing is serialised: with no waiting delivery or no free
    courier it is one or two reads without locks, and the common paths (a courier found at once, an
    order handed on release) never call it.
    """
    paired = 0
    while _some_courier_idles_while_an_order_waits():
        with transaction.atomic():
            waiting = _oldest_waiting(skip_locked=False)
            now = timezone.now()
            courier = _pick_courier(now, skip_locked=False) if waiting is not None else None
            if courier is None:
                return paired
            _assign(waiting, courier, now)
        paired += 1
    return paired


def _some_courier_idles_while_an_order_waits() -> bool:
    holds_delivery = Delivery.objects.filter(courier=OuterRef("pk"), status=Delivery.Status.ASSIGNED)
    idle = Courier.objects.filter(status=Courier.Status.AVAILABLE).exclude(Exists(holds_delivery))
    return Delivery.objects.filter(status=Delivery.Status.AWAITING_COURIER).exists() and idle.exists()


# --- Orders that keep failing ------------------------------------------------

LAST_ERROR_LENGTH = 1000


def order_failure_record(*, order_id: str, error: str) -> int:
    """Count one more failed attempt at the order's events; returns the attempts so far."""
    with transaction.atomic():
        failure, created = OrderFailure.objects.select_for_update().get_or_create(
            order_id=order_id, defaults={"attempts": 1, "last_error": error[:LAST_ERROR_LENGTH]}
        )
        if not created:
            failure.attempts += 1
            failure.last_error = error[:LAST_ERROR_LENGTH]
            failure.save(update_fields=["attempts", "last_error", "last_failed_at"])
    return failure.attempts


def order_failures_clear(*, order_ids: Collection[str]) -> None:
    """These orders' events are done with (processed or dead-lettered): forget their failures."""
    if order_ids:
        OrderFailure.objects.filter(order_id__in=list(order_ids)).delete()


# --- The reconcile sweep -------------------------------------------------------


def deliveries_reconcile(
    *,
    older_than: timedelta,
    client: OrderClient,
    limit: int | None = 500,
    stop_when: Callable[[], bool] | None = None,
) -> Counter[Outcome]:
    """Check open deliveries not checked for `older_than`, and every overdue one, against service-order.

    Each delivery is claimed first with a conditional UPDATE, so copies of the sweep running at once
    (one per consumer) share the work instead of repeating it. Stops early if service-order is down,
    or once `stop_when()` is true (asked before each check: a time limit, a process stopping); what is
    left stays due for the next run.
    """
    outcomes: Counter[Outcome] = Counter()
    for delivery_id, order_id, checked_at in delivery_due_for_check(older_than=older_than, limit=limit):
        if stop_when is not None and stop_when():
            break
        claimed_at = timezone.now()
        if not Delivery.objects.filter(pk=delivery_id, order_checked_at=checked_at).update(order_checked_at=claimed_at):
            continue  # another copy took it
        try:
            result = order_events_handle(order_id=order_id, event_statuses=[], client=client)
        except RETRY_LATER:
            Delivery.objects.filter(pk=delivery_id, order_checked_at=claimed_at).update(order_checked_at=checked_at)
            logger.warning("reconcile stopped: service-order unavailable")
            break
        except OrderRequestRejected as exc:
            # This order's id is refused; the claim stands, so it waits `older_than` before the next try.
            logger.warning("reconcile skipped order %s: %s", order_id, exc, extra={"order_id": order_id})
            continue
        outcomes[result.outcome] += 1
        metrics.RECONCILED.labels(str(result.outcome)).inc()
    _report_overdue()
    return outcomes


def _report_overdue() -> None:
    overdue = delivery_overdue(Delivery.objects.all()).values_list("order_id", "courier_id", "deadline")
    for order_id, courier_id, deadline in overdue:
        logger.warning(
            "delivery of order %s by courier %s is overdue since %s",
            order_id,
            courier_id,
            deadline,
            extra={"order_id": order_id},
        )


# --- Operators: manual dispatch ----------------------------------------------


def delivery_assign(*, order_id: str, client: OrderClient) -> Delivery:
    """Give an order a courier on an operator's request, after checking it is active."""
    asked_at = timezone.now()
    try:
        order = client.get_order(order_id)
    except OrderNotFound as exc:
        raise NotFound(f"order {order_id} does not exist at service-order", code="order_not_found") from exc
    if phase_of(order.status) is not Phase.ACTIVE:
        raise Conflict(f"order {order_id} is {order.status}: only active orders get a courier", code="order_not_active")
    delivery_sync(order_id=order_id, order_status=order.status, asked_at=asked_at, reopen=True)
    return Delivery.objects.select_related("courier").get(order_id=order_id)


def delivery_unassign(*, order_id: str) -> Delivery:
    """Take the courier off an order: the order goes back to the queue, keeping its place.

    The queue is first come first served by the order's arrival, so the order waits ahead of the
    orders that arrived after it. The courier taken off is paused: the dispatcher had a reason to
    take it off, and made available it would take this same order back (it is often the oldest).
    """
    with transaction.atomic():
        delivery = _locked_delivery_of_order(order_id)
        _refuse_finished(delivery)
        if delivery.status != Delivery.Status.ASSIGNED:
            raise Conflict(
                f"order {order_id} has no courier to take off: it waits for one", code="delivery_not_assigned"
            )
        courier = _locked_courier(delivery.courier_id)
        _wait_for_courier(delivery)
        courier.status = Courier.Status.PAUSED
        courier.save(update_fields=["status", "updated_at"])
        # As any waiting order: another free courier at once, or the queue. A free courier means nobody
        # else waits (each one takes the oldest waiting order on becoming free), so nobody is overtaken.
        _ensure_courier(delivery, created=False, reopen=False)
        return delivery


def delivery_cancel(*, order_id: str) -> Delivery:
    """Cancel an order's delivery on an operator's request; its courier, if any, takes the oldest waiting order."""
    with transaction.atomic():
        delivery = _locked_delivery_of_order(order_id)
        _refuse_finished(delivery)
        _finish(delivery, Phase.CANCELLED)
        return delivery


def _refuse_finished(delivery: Delivery) -> None:
    if delivery.status not in Delivery.OPEN:
        raise Conflict(f"delivery of order {delivery.order_id} is already {delivery.status}", code="delivery_finished")


def _locked_delivery_of_order(order_id: str) -> Delivery:
    delivery = Delivery.objects.select_for_update().filter(order_id=order_id).first()
    if delivery is None:
        raise NotFound(f"order {order_id} has no delivery", code="delivery_not_found")
    return delivery


# --- Operators: the fleet -----------------------------------------------------


def courier_create(*, name: str, phone: str, transport_type: str, status: str = Courier.Status.AVAILABLE) -> Courier:
    if status not in (Courier.Status.AVAILABLE, Courier.Status.PAUSED):
        raise Conflict("a new courier is available or paused", code="invalid_status")
    now = timezone.now()
    with transaction.atomic():
        courier = Courier(name=name, phone=phone, transport_type=transport_type, status=status, idle_since=now)
        courier.full_clean()
        courier.save()
        if status == Courier.Status.AVAILABLE:
            _hand_oldest_waiting_order(courier, now)
    return courier


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
        courier = _locked_courier(courier_id)
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
        return _pause(_locked_courier(courier_id))


def courier_make_available(*, courier_id: int) -> Courier:
    with transaction.atomic():
        return _make_available(_locked_courier(courier_id))


def courier_delete(*, courier_id: int) -> None:
    with transaction.atomic():
        courier = _locked_courier(courier_id)
        if courier.deliveries.exists():
            raise Conflict(
                "a courier with deliveries keeps its history: pause it instead", code="courier_has_deliveries"
            )
        courier.delete()


def _locked_courier(courier_id: int) -> Courier:
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
        _hand_oldest_waiting_order(courier, now)
    return courier
