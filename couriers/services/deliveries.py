"""One order's delivery made to match what we know of the order, in one transaction with row locks."""

import logging

from django.db import transaction
from django.utils import timezone

from couriers.models import Delivery, OrderKnowledge
from couriers.phases import Phase
from couriers.services.knowledge import Decision, Reading, Target, grace, knowledge_locked, target
from couriers.services.outbox import Cause, EventType, caused_by, event_record
from couriers.services.outcomes import Outcome
from couriers.services.queue import assign, match_after_commit, pick_courier, release, wait_for_courier

logger = logging.getLogger(__name__)


def order_decide(*, reading: Reading, reopen: bool = False) -> Outcome:
    """Merge one reading into the order's knowledge and make its delivery what the knowledge asks.

    One transaction, its locks in the house order: the knowledge, the delivery, a courier. A finished
    delivery is never reopened by a reading: the order's terminal statuses are terminal, so an active status
    read after one was read earlier, by a slower worker. Only an operator (reopen=True) brings a cancelled
    delivery back.
    """
    with transaction.atomic():
        known, opened = knowledge_locked(reading, reopen=reopen)
        delivery = Delivery.objects.select_for_update().filter(order=known).first()
        if delivery is not None:
            delivery.order = known  # the row just locked, not a second read of it
        decision = target(known, timezone.now())
        if decision.target is Target.AS_IS:
            logger.warning("order %s has unknown status %r: left as it is", known.order_id, known.read_status)
            return Outcome.UNKNOWN_STATUS
        if decision.target is Target.COURIER:
            return _with_courier(known, delivery, reopen=reopen)
        if decision.target is Target.DISPUTED:
            return _disputed(known, delivery, opened=opened)
        return _ended(known, delivery, decision)


def _with_courier(known: OrderKnowledge, delivery: Delivery | None, *, reopen: bool) -> Outcome:
    if delivery is None:
        delivery = Delivery.objects.create(order=known, status=Delivery.Status.AWAITING_COURIER)
        return ensure_courier(delivery, created=True, reopen=reopen)
    return ensure_courier(delivery, created=False, reopen=reopen)


def _disputed(known: OrderKnowledge, delivery: Delivery | None, *, opened: bool) -> Outcome:
    """An end stands against an active answer: the order keeps (or gets) a delivery, and no new courier."""
    if opened:
        logger.warning(
            "dispute opened: an event says order %s is %s, service-order reads %s",
            known.order_id,
            known.end_announced,
            known.read_status,
            extra={"order_id": known.order_id},
        )
    if delivery is None:
        delivery = Delivery.objects.create(order=known, status=Delivery.Status.AWAITING_COURIER)
        _record_new(delivery, EventType.DISPUTED)
    elif opened and delivery.status in Delivery.OPEN:
        event_record(delivery, EventType.DISPUTED)
        delivery.save(update_fields=["version", "updated_at"])
    return Outcome.STALE


def _ended(known: OrderKnowledge, delivery: Delivery | None, decision: Decision) -> Outcome:
    phase = Phase.DONE if decision.target is Target.DONE else Phase.CANCELLED
    if delivery is None:
        # Nothing of ours to end: an order first known ended, or one service-order never had (no delivery).
        if known.read_status == OrderKnowledge.NOT_FOUND:
            logger.info("order %s not found at service-order: recorded, nothing to cancel", known.order_id)
            return Outcome.NOT_FOUND
        return Outcome.UNCHANGED
    if not decision.by_grace:
        return finish(delivery, phase)
    with caused_by(Cause.RULE):
        return finish(delivery, phase, settled_by=f"the rule (grace {grace()})")


# The delivery statuses that a reading of each phase leaves as they are (see ensure_courier and finish).
SETTLED_BY = {
    Phase.ACTIVE: (Delivery.Status.ASSIGNED, Delivery.Status.COMPLETED, Delivery.Status.CANCELLED),
    Phase.DONE: (Delivery.Status.COMPLETED, Delivery.Status.CANCELLED),
    Phase.CANCELLED: (Delivery.Status.COMPLETED, Delivery.Status.CANCELLED),
}


def ensure_courier(delivery: Delivery, *, created: bool, reopen: bool) -> Outcome:
    """A courier for an open delivery if one is free, else its place in the queue. A disputed delivery waits
    (an operator may still give it one: reopen)."""
    if delivery.status == Delivery.Status.ASSIGNED:
        return Outcome.UNCHANGED
    if delivery.status == Delivery.Status.COMPLETED:
        return Outcome.UNCHANGED
    if delivery.status == Delivery.Status.CANCELLED and not reopen:
        return Outcome.UNCHANGED
    now = timezone.now()
    courier = None if delivery.disputed and not reopen else pick_courier(now)
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
            delivery.order.end_announced,
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
