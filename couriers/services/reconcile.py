"""The reconcile sweep: open deliveries checked again against service-order, overdue ones reported."""

import logging
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from django.utils import timezone

from couriers import metrics
from couriers.database import connection_release
from couriers.models import Delivery
from couriers.order_ids import InvalidOrderId
from couriers.selectors import delivery_due_for_check, delivery_overdue
from couriers.services.disputes import disputes_expired
from couriers.services.outbox import Cause, caused_by
from couriers.services.outcomes import Outcome
from couriers.services.readings import order_read, order_reading_apply
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
    claimed: list[int] = []
    try:
        _settle_expired_disputes(client=client, stop_when=stop_when, outcomes=outcomes)
        _check_due(
            older_than=older_than, limit=limit, client=client, stop_when=stop_when, outcomes=outcomes, claimed=claimed
        )
    except RETRY_LATER:
        logger.warning("reconcile stopped: service-order unavailable")
    _report_overdue(claimed)
    return outcomes


def _settle_expired_disputes(
    *, client: OrderClient, stop_when: Callable[[], bool] | None, outcomes: Counter[Outcome]
) -> None:
    """Disputes whose grace ran out, settled without waiting for another event: service-order is asked once
    more with the announced end as the order's event, so a read that now agrees (or a 404) decides first."""
    for order_id, end in disputes_expired():
        if stop_when is not None and stop_when():
            return
        _check(order_id=order_id, event_statuses=[end], client=client, outcomes=outcomes)


def _check_due(
    *,
    older_than: timedelta,
    limit: int | None,
    client: OrderClient,
    stop_when: Callable[[], bool] | None,
    outcomes: Counter[Outcome],
    claimed: list[int],
) -> None:
    for delivery_id, order_id, checked_at in delivery_due_for_check(older_than=older_than, limit=limit):
        if stop_when is not None and stop_when():
            return
        claimed_at = timezone.now()
        if not Delivery.objects.filter(pk=delivery_id, order_checked_at=checked_at).update(order_checked_at=claimed_at):
            continue  # another copy took it
        claimed.append(delivery_id)
        try:
            _check(order_id=order_id, event_statuses=[], client=client, outcomes=outcomes)
        except RETRY_LATER:
            # Unclaimed: still due at the next run.
            Delivery.objects.filter(pk=delivery_id, order_checked_at=claimed_at).update(order_checked_at=checked_at)
            raise


def _check(*, order_id: str, event_statuses: list[str], client: OrderClient, outcomes: Counter[Outcome]) -> None:
    """One order asked again and decided. Raises RETRY_LATER when service-order cannot be asked."""
    connection_release()  # none held while service-order is asked
    try:
        reading = order_read(order_id=order_id, event_statuses=event_statuses, client=client)
    except (OrderRequestRejected, InvalidOrderId) as exc:
        # This order's id is refused; a claim stands, so it waits `older_than` before the next try.
        logger.warning("reconcile skipped order %s: %s", order_id, exc, extra={"order_id": order_id})
        return
    with caused_by(Cause.SWEEP):
        result = order_reading_apply(reading=reading)
    outcomes[result.outcome] += 1
    metrics.RECONCILED.labels(str(result.outcome)).inc()


def _report_overdue(claimed: list[int]) -> None:
    """Each overdue delivery is due at every run, and claimed by one copy of the sweep: logged by that one."""
    overdue = delivery_overdue(Delivery.objects.filter(pk__in=claimed)).values_list(
        "order_id", "courier_id", "deadline"
    )
    for order_id, courier_id, deadline in overdue:
        logger.warning(
            "delivery of order %s by courier %s is overdue since %s",
            order_id,
            courier_id,
            deadline,
            extra={"order_id": order_id},
        )
