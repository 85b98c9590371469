"""Reads of couriers and deliveries, shaped so that a list costs a fixed number of queries."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import (
    BooleanField,
    Case,
    Count,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.utils import timezone

from couriers.errors import NotFound
from couriers.models import Courier, Delivery


def _assigned_delivery() -> QuerySet[Delivery]:
    # At most one row: the database allows one assigned delivery per courier.
    return Delivery.objects.filter(courier=OuterRef("pk"), status=Delivery.Status.ASSIGNED)


def courier_list() -> QuerySet[Courier]:
    """Couriers with `active_delivery`: the id of the delivery each one is on, or None."""
    return Courier.objects.annotate(active_delivery=Subquery(_assigned_delivery().values("pk")[:1]))


def courier_admin_list(*, now: datetime | None = None) -> QuerySet[Courier]:
    """courier_list() plus the active delivery's order id and the deliveries assigned today."""
    today = timezone.localdate(now or timezone.now())
    return courier_list().annotate(
        active_order_id=Subquery(_assigned_delivery().values("order_id")[:1]),
        # The dispatcher's own daily load counter: no aggregate over deliveries needed.
        deliveries_today=Case(When(load_date=today, then=F("deliveries_on_load_date")), default=Value(0)),
    )


def courier_has_deliveries(*, courier_id: int) -> bool:
    return Delivery.objects.filter(courier_id=courier_id).exists()


def _overdue(now: datetime) -> Q:
    return Q(status=Delivery.Status.ASSIGNED, deadline__lt=now)


def queued() -> Q:
    """The waiting deliveries that may take a courier: a disputed one waits for its dispute to be settled."""
    return Q(status=Delivery.Status.AWAITING_COURIER, order__end_announced="")


def _queue_position() -> Case:
    """1 for the next order to get a courier: the queue is served by arrival (created_at, then id)."""
    ahead_or_same = Delivery.objects.filter(
        queued(),
        Q(created_at__lt=OuterRef("created_at")) | Q(created_at=OuterRef("created_at"), pk__lte=OuterRef("pk")),
    )
    count = ahead_or_same.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")[:1]
    return Case(When(queued(), then=Subquery(count)), default=None, output_field=IntegerField())


def delivery_list(*, now: datetime | None = None) -> QuerySet[Delivery]:
    """Deliveries with their courier joined, `is_overdue` (assigned and past the deadline) and
    `queue_position` (waiting orders only)."""
    overdue = ExpressionWrapper(_overdue(now or timezone.now()), output_field=BooleanField())
    return Delivery.objects.select_related("courier", "order").annotate(
        is_overdue=overdue, queue_position=_queue_position()
    )


def delivery_overdue(
    queryset: QuerySet[Delivery], *, overdue: bool = True, now: datetime | None = None
) -> QuerySet[Delivery]:
    """Narrow `queryset` to the overdue deliveries, or with overdue=False to the others."""
    condition = _overdue(now or timezone.now())
    return queryset.filter(condition) if overdue else queryset.exclude(condition)


def _disputed() -> Q:
    # Open, and the order's announced end stands: an ended answer would have ended the delivery.
    return Q(status__in=Delivery.OPEN) & ~Q(order__end_announced="")


def delivery_disputed(queryset: QuerySet[Delivery], *, disputed: bool = True) -> QuerySet[Delivery]:
    """Narrow `queryset` to the disputed deliveries (services/knowledge.py), or with disputed=False to the others."""
    return queryset.filter(_disputed()) if disputed else queryset.exclude(_disputed())


def delivery_get_for_order(*, order_id: str) -> Delivery:
    delivery = delivery_list().filter(order_id=order_id).first()
    if delivery is None:
        raise NotFound(f"order {order_id} has no delivery", code="delivery_not_found")
    return delivery


def waiting_count() -> int:
    """Orders waiting for a courier (in the queue: the disputed ones are counted apart)."""
    return Delivery.objects.filter(queued()).count()


def delivery_due_for_check(*, older_than: timedelta, limit: int | None) -> list[str]:
    """Order ids of the open deliveries whose order's answer is older than `older_than` (and not taken up by
    the sweep since), and of every overdue one: least recently swept first, then least recently answered."""
    now = timezone.now()
    stale = Q(order__read_at__lt=now - older_than) & (
        Q(order__swept_at__isnull=True) | Q(order__swept_at__lt=now - older_than)
    )
    due = Delivery.objects.filter(stale | _overdue(now), status__in=Delivery.OPEN).order_by(
        F("order__swept_at").asc(nulls_first=True), "order__read_at", "id"
    )
    order_ids = due.values_list("order_id", flat=True)
    return list(order_ids if limit is None else order_ids[:limit])


@dataclass(frozen=True)
class FleetCounts:
    couriers_by_status: dict[str, int]  # every status, 0 included
    waiting: int
    overdue: int
    disputed: int


def fleet_counts(*, now: datetime | None = None) -> FleetCounts:
    """Four small indexed queries rather than one aggregate scan of every delivery."""
    by_status = dict.fromkeys(Courier.Status.values, 0)
    for row in Courier.objects.order_by().values("status").annotate(n=Count("pk")):
        by_status[row["status"]] = row["n"]
    overdue = delivery_overdue(Delivery.objects.all(), now=now).count()
    disputed = delivery_disputed(Delivery.objects.all()).count()
    return FleetCounts(couriers_by_status=by_status, waiting=waiting_count(), overdue=overdue, disputed=disputed)
