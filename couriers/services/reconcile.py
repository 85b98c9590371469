"""The reconcile sweep: open deliveries checked again against service-order, overdue ones reported."""

import logging
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from django.utils import timezone

from couriers import metrics
from couriers.models import Delivery
from couriers.selectors import delivery_due_for_check, delivery_overdue
from couriers.services.outbox import Cause, caused_by
from couriers.services.outcomes import Outcome
from couriers.services.readings import order_events_handle
from gateway.orders import RETRY_LATER, OrderClient, OrderRequestRejected

logger = logging.getLogger(__name__)


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
            with caused_by(Cause.SWEEP):
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
