"""Disputed ends: service-order announced an order's end, and its reads keep saying the order is active.

The rule of the house (act on service-order's answer, never on the event) protects against events that
come duplicated, late, out of order or from elsewhere. But the real service-order reads every order
older than its 10-minute mark as `delivering`, completed ones included, for good: its `completed` event is
then the only sign that the order ended, and a courier held for it would never be freed.

So an end event for an order we hold an open delivery for, contradicted by the read, opens a dispute: the
event's end and the moment we first saw it are written on the delivery (durably: a restart or a
rebalance does not forget it). The end is accepted once service-order has contradicted it for longer
than DISPUTE_GRACE (the first reads after an end can honestly lag), by the next event or by the sweep
(disputes_expired); with DISPUTE_GRACE=never a dispatcher decides (delivery_dispute_settle). A read that
says the order ended settles it the usual way. An end event for an order we hold no open delivery for
changes nothing, as before.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from couriers.errors import Conflict, NotFound
from couriers.models import Delivery
from couriers.phases import Phase, phase_of
from couriers.services.deliveries import finish
from couriers.services.outbox import Cause, caused_by
from couriers.services.outcomes import Outcome

logger = logging.getLogger(__name__)


def grace() -> timedelta | None:
    """How long a dispute stands before the announced end is accepted; None: never (a dispatcher decides)."""
    return None if settings.DISPUTE_GRACE is None else timedelta(seconds=settings.DISPUTE_GRACE)


def announced_end(event_statuses: tuple[str, ...]) -> str | None:
    """The last end (done or cancelled) among an order's events, if any."""
    ends = [status for status in event_statuses if phase_of(status) in (Phase.DONE, Phase.CANCELLED)]
    return ends[-1] if ends else None


def dispute_apply(*, order_id: str, order_status: str, end: str, asked_at: datetime) -> Outcome | None:
    """An event announced `end`, service-order read `order_status` (active) at `asked_at`.

    None if we hold no open delivery for the order (the caller goes on as without a dispute). Otherwise
    the dispute is opened if new, and settled by the rule once its grace ran out: COMPLETED or CANCELLED;
    STALE while it stands.
    """
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().filter(order_id=order_id, status__in=Delivery.OPEN).first()
        if delivery is None:
            return None
        now = timezone.now()
        if asked_at >= delivery.order_checked_at:
            delivery.order_status, delivery.order_checked_at = order_status, asked_at
        if delivery.end_announced_at is None:
            delivery.end_announced, delivery.end_announced_at = end, now
            logger.warning(
                "dispute opened: an event says order %s is %s, service-order reads %s",
                order_id,
                end,
                order_status,
                extra={"order_id": order_id},
            )
        delivery.save(
            update_fields=["order_status", "order_checked_at", "end_announced", "end_announced_at", "updated_at"]
        )
        limit = grace()
        if limit is None or now - delivery.end_announced_at < limit:
            return Outcome.STALE
        return finish(delivery, phase_of(delivery.end_announced), settled_by=f"the rule (grace {limit})")


def disputes_expired(*, limit: int = 500) -> list[tuple[str, str]]:
    """(order id, announced end) of the disputes whose grace ran out, oldest first: the sweep settles them."""
    span = grace()
    if span is None:
        return []
    return list(
        Delivery.objects.filter(status__in=Delivery.OPEN, end_announced_at__lte=timezone.now() - span)
        .order_by("end_announced_at", "id")
        .values_list("order_id", "end_announced")[:limit]
    )


@caused_by(Cause.DISPATCHER)
def delivery_dispute_settle(*, order_id: str, accept: bool) -> Delivery:
    """A dispatcher decides a dispute: accept the announced end (the delivery ends, its courier is freed),
    or reject it (the delivery goes on; the event is forgotten)."""
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().filter(order_id=order_id).first()
        if delivery is None:
            raise NotFound(f"order {order_id} has no delivery", code="delivery_not_found")
        if not delivery.disputed:
            raise Conflict(f"delivery of order {order_id} is not disputed", code="delivery_not_disputed")
        if accept:
            finish(delivery, phase_of(delivery.end_announced), settled_by="a dispatcher (end accepted)")
        else:
            logger.warning(
                "dispute over order %s settled by a dispatcher: end %s rejected, the delivery goes on",
                order_id,
                delivery.end_announced,
                extra={"order_id": order_id},
            )
            delivery.end_announced, delivery.end_announced_at = "", None
            delivery.save(update_fields=["end_announced", "end_announced_at", "updated_at"])
        return delivery
