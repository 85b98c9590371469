"""Couriers and deliveries of the bench database: enough couriers, a clean slate between phases, the check."""

import time
from collections.abc import Collection
from dataclasses import dataclass

from django.db import connections, transaction
from django.utils import timezone

from couriers.models import Courier, Delivery, OrderKnowledge, OutboxEvent
from sandbox.bench.database import ALIAS
from sandbox.verify import idle_while_waiting

_TRANSPORTS = tuple(Courier.Transport.values)


def couriers_ensure(count: int) -> None:
    """At least `count` couriers, so that every order of the stream can be assigned one."""
    missing = count - Courier.objects.using(ALIAS).count()
    if missing <= 0:
        return
    now = timezone.now()
    Courier.objects.using(ALIAS).bulk_create(
        Courier(
            name=f"bench courier {i}",
            phone=f"+7{9_000_000_000 + i}",
            transport_type=_TRANSPORTS[i % len(_TRANSPORTS)],
            idle_since=now,
        )
        for i in range(count - missing, count)
    )


def state_reset() -> None:
    """No deliveries, nothing known of any order, every courier free with no load: each phase starts from the
    same state (the phases replay the same order ids)."""
    with transaction.atomic(using=ALIAS):
        Delivery.objects.using(ALIAS).all().delete()
        OrderKnowledge.objects.using(ALIAS).all().delete()
        OutboxEvent.objects.using(ALIAS).all().delete()
        Courier.objects.using(ALIAS).update(
            status=Courier.Status.AVAILABLE, load_date=None, deliveries_on_load_date=0, idle_since=timezone.now()
        )
    _statistics_refresh()


def _statistics_refresh() -> None:
    # A database minutes old has no planner statistics: PostgreSQL would guess a handful of free couriers
    # and pick a nested-loop plan that goes quadratic as deliveries fill up. Autovacuum has long run in a live one.
    connection = connections[ALIAS]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            tables = ", ".join(model._meta.db_table for model in (Courier, Delivery, OrderKnowledge))
            cursor.execute(f"ANALYZE {tables}")


@dataclass(frozen=True)
class FinalState:
    orders: int
    with_open_delivery: int  # assigned or awaiting a courier, as an active order must be
    couriers_consistent: bool  # busy couriers are exactly those holding an assigned delivery
    idle_while_waiting: int  # couriers available while a delivery awaits one: must be none once quiet

    @property
    def ok(self) -> bool:
        return self.orders == self.with_open_delivery and self.couriers_consistent and not self.idle_while_waiting


def final_state(order_ids: Collection[str]) -> FinalState:
    wanted = set(order_ids)
    open_deliveries = Delivery.objects.using(ALIAS).filter(status__in=Delivery.OPEN).values_list("order_id", flat=True)
    covered = sum(1 for order_id in open_deliveries.iterator() if order_id in wanted)
    assigned = Delivery.objects.using(ALIAS).filter(status=Delivery.Status.ASSIGNED)
    busy = Courier.objects.using(ALIAS).filter(status=Courier.Status.BUSY)
    consistent = set(assigned.values_list("courier_id", flat=True)) == set(busy.values_list("id", flat=True))
    return FinalState(
        len(wanted), covered, consistent and assigned.count() == busy.count(), len(idle_while_waiting(using=ALIAS))
    )


def outbox_drained(timeout: float) -> bool:
    """Whether the consumer's relay published every outbox row within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while OutboxEvent.objects.using(ALIAS).filter(published_at__isnull=True).exists():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def outbox_events_count() -> int:
    return OutboxEvent.objects.using(ALIAS).count()
