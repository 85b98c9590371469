"""Disputed ends (see services/knowledge.py): found for the sweep, and decided by a dispatcher."""

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from couriers.errors import Conflict, NotFound
from couriers.models import Delivery, OrderKnowledge
from couriers.phases import phase_of
from couriers.selectors import delivery_disputed
from couriers.services.deliveries import finish
from couriers.services.knowledge import grace
from couriers.services.outbox import Cause, EventType, caused_by, event_record
from couriers.services.queue import match_after_commit

logger = logging.getLogger(__name__)


def disputes_expired(*, limit: int = 500) -> list[str]:
    """Order ids of the disputes whose grace ran out: the sweep settles them. Those the sweep took up least
    recently go first, so that one it cannot read does not stand at the head of every run."""
    span = grace()
    if span is None:
        return []
    expired = delivery_disputed(Delivery.objects.filter(order__end_announced_at__lte=timezone.now() - span))
    return list(
        expired.order_by(F("order__swept_at").asc(nulls_first=True), "order__end_announced_at", "id").values_list(
            "order_id", flat=True
        )[:limit]
    )


@caused_by(Cause.DISPATCHER)
def delivery_dispute_settle(*, order_id: str, accept: bool) -> Delivery:
    """A dispatcher decides a dispute: accept the announced end (the delivery ends, its courier is freed), or
    reject it (the delivery goes on; only an end event produced after this verdict opens a dispute again)."""
    with transaction.atomic():
        known = OrderKnowledge.objects.select_for_update().filter(order_id=order_id).first()
        delivery = None if known is None else Delivery.objects.select_for_update().filter(order=known).first()
        if delivery is None:
            raise NotFound(f"order {order_id} has no delivery", code="delivery_not_found")
        delivery.order = known
        if not delivery.disputed:
            raise Conflict(f"delivery of order {order_id} is not disputed", code="delivery_not_disputed")
        known.verdict_at = timezone.now()
        if accept:
            known.verdict = OrderKnowledge.Verdict.ACCEPTED
            known.save(update_fields=["verdict", "verdict_at", "updated_at"])
            finish(delivery, phase_of(known.end_announced), settled_by="a dispatcher (end accepted)")
        else:
            _reject(known, delivery)
        return delivery


def _reject(known: OrderKnowledge, delivery: Delivery) -> None:
    logger.warning(
        "dispute over order %s settled by a dispatcher: end %s rejected, the delivery goes on",
        known.order_id,
        known.end_announced,
        extra={"order_id": known.order_id},
    )
    known.verdict = OrderKnowledge.Verdict.REJECTED
    known.end_announced, known.end_announced_at = "", None
    known.save(update_fields=["verdict", "verdict_at", "end_announced", "end_announced_at", "updated_at"])
    event_record(delivery, EventType.SETTLED)
    delivery.save(update_fields=["version", "updated_at"])
    if delivery.status == Delivery.Status.AWAITING_COURIER:
        match_after_commit()  # it may take a courier now, in its place in the queue
