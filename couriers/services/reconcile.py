"""The reconcile sweep: open deliveries checked again against service-order, overdue ones reported.

One order that cannot be read (service-order fails for it alone) is set aside like the consumer does it:
service-order is probed, and if it answers, the failure is counted and the sweep goes on; the order goes to
the back of the next run (its `swept_at`), so it never stands at the head of every run. Only when the probe
fails too is it an outage, and the sweep stops.
"""

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from couriers import metrics
from couriers.database import connection_release
from couriers.models import Delivery, OrderKnowledge
from couriers.selectors import delivery_due_for_check, delivery_overdue
from couriers.services.disputes import disputes_expired
from couriers.services.outbox import Cause, caused_by
from couriers.services.outcomes import Outcome
from couriers.services.readings import order_read, order_reading_apply
from gateway.order_ids import InvalidOrderId
from gateway.orders import PROBE_ORDER_ID, RETRY_LATER, OrderClient, OrderRequestRejected, service_answers

logger = logging.getLogger(__name__)


class _Outage(Exception):
    """service-order answers neither this order nor the probe: the sweep stops here."""


@dataclass
class _Run:
    client: OrderClient
    stop_when: Callable[[], bool] | None
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    claimed: list[str] = field(default_factory=list)  # order ids
    answered: str | None = None  # an order service-order answered for in this run: the probe's

    def stopped(self) -> bool:
        return self.stop_when is not None and self.stop_when()


def deliveries_reconcile(
    *,
    older_than: timedelta,
    client: OrderClient,
    limit: int | None = 500,
    stop_when: Callable[[], bool] | None = None,
) -> Counter[Outcome]:
    """Settle the disputes whose grace ran out; check open deliveries not checked for `older_than`, and every
    overdue one, against service-order.

    Each order is claimed first with a conditional UPDATE, so copies of the sweep running at once (one per
    consumer) share the work instead of repeating it. Stops early if service-order is down, or once
    `stop_when()` is true (asked before each check: a time limit, a process stopping); what is left stays due
    for the next run.
    """
    run = _Run(client, stop_when)
    try:
        _sweep(disputes_expired(), run)
        _sweep(delivery_due_for_check(older_than=older_than, limit=limit), run)
    except _Outage:
        logger.warning("reconcile stopped: service-order unavailable")
    _report_overdue(run.claimed)
    return run.outcomes


def _sweep(order_ids: list[str], run: _Run) -> None:
    # When each was swept last as listed: a copy that took one meanwhile has moved it, and the claim fails.
    listed = dict(OrderKnowledge.objects.filter(order_id__in=order_ids).values_list("order_id", "swept_at"))
    for order_id in order_ids:
        if run.stopped():
            return
        if order_id in run.claimed:
            continue  # an expired dispute is also due for its check: one check a run
        swept_before = listed[order_id]
        claimed_at = timezone.now()
        if not OrderKnowledge.objects.filter(order_id=order_id, swept_at=swept_before).update(swept_at=claimed_at):
            continue  # another copy took it
        run.claimed.append(order_id)
        try:
            _check(order_id, run)
        except _Outage:
            # Unclaimed: in its place for the next run.
            OrderKnowledge.objects.filter(order_id=order_id, swept_at=claimed_at).update(swept_at=swept_before)
            raise


def _check(order_id: str, run: _Run) -> None:
    """One order asked again and decided; its failure alone is counted and passed over."""
    connection_release()  # none held while service-order is asked
    try:
        reading = order_read(order_id=order_id, event_statuses=[], client=run.client)
    except (OrderRequestRejected, InvalidOrderId) as exc:
        _failed(order_id, exc)  # this order's id is refused: it waits `older_than` before the next try
        return
    except RETRY_LATER as exc:
        if not service_answers(run.client, run.answered or PROBE_ORDER_ID):
            raise _Outage from exc
        _failed(order_id, exc)
        return
    run.answered = order_id
    with caused_by(Cause.SWEEP):
        result = order_reading_apply(reading=reading)
    run.outcomes[result.outcome] += 1
    metrics.RECONCILED.labels(str(result.outcome)).inc()


def _failed(order_id: str, error: Exception) -> None:
    metrics.RECONCILE_FAILURES.inc()
    logger.warning(
        "reconcile could not check order %s, passed over until its next turn: %s",
        order_id,
        error,
        extra={"order_id": order_id},
    )


def _report_overdue(claimed: list[str]) -> None:
    """Each overdue delivery is due at every run, and claimed by one copy of the sweep: logged by that one."""
    overdue = delivery_overdue(Delivery.objects.filter(order_id__in=claimed)).values_list(
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
