"""Does the database agree with service-order's truth? The final check of tests and of the demo.

A disputed delivery (couriers/services/knowledge.py: an event announced the order's end, service-order's reads
say it is active) stays open by design until the rule or a dispatcher settles it. With no rule
(DISPUTE_GRACE=never) one whose order did end waits for a dispatcher: counted apart, not as a mismatch.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

NEVER_EXISTED = "never existed"

# What each phase allows a delivery to be in; None stands for "no delivery at all".
_ALLOWED = {
    "active": {"assigned", "awaiting_courier"},
    "done": {None, "completed"},
    "cancelled": {None, "cancelled"},
}


@dataclass(frozen=True)
class Mismatch:
    order_id: str
    truth: str  # service-order's status, or NEVER_EXISTED
    delivery: str | None  # the delivery's status, None without a delivery


@dataclass
class Report:
    checked: int = 0
    consistent: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    # Open and disputed, the order ended at service-order, and only a dispatcher settles disputes: by design.
    awaiting_dispatcher: list[Mismatch] = field(default_factory=list)
    courier_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.courier_problems

    def summary(self) -> str:
        line = f"{self.consistent} of {self.checked} orders consistent"
        if self.awaiting_dispatcher:
            line += f", {len(self.awaiting_dispatcher)} disputed (waiting for a dispatcher)"
        if self.courier_problems:
            line += f"; {len(self.courier_problems)} courier problems"
        return line


def verify(
    truth: Mapping[str, str], foreign_ids: Iterable[str] = (), *, dispatcher_decides: bool | None = None
) -> Report:
    """Compare deliveries to `truth` ({order id: status}); orders in `foreign_ids` must have no delivery (or a
    cancelled one, as earlier versions recorded service-order's not-found).

    `dispatcher_decides`: only a dispatcher settles disputes (DISPUTE_GRACE=never, the default's reading of
    the settings): an open disputed delivery of an ended order is then counted as waiting for one.
    """
    from django.conf import settings

    from couriers.models import Delivery
    from couriers.phases import phase_of
    from couriers.selectors import delivery_disputed

    if dispatcher_decides is None:
        dispatcher_decides = settings.DISPUTE_GRACE is None

    expected = {order_id: _ALLOWED.get(phase_of(status), set()) for order_id, status in truth.items()}
    expected.update((order_id, {None, "cancelled"}) for order_id in foreign_ids if order_id not in truth)
    # One pass over the table rather than an IN list with a parameter per order: big runs outgrow those.
    deliveries = {
        order_id: status
        for order_id, status in Delivery.objects.values_list("order_id", "status").iterator()
        if order_id in expected
    }
    disputed = set(delivery_disputed(Delivery.objects.all()).values_list("order_id", flat=True).iterator())
    report = Report(courier_problems=courier_problems() + idle_while_waiting())
    for order_id, allowed in expected.items():
        report.checked += 1
        delivery = deliveries.get(order_id)
        mismatch = Mismatch(order_id, truth.get(order_id, NEVER_EXISTED), delivery)
        if delivery in allowed:
            report.consistent += 1
        elif dispatcher_decides and order_id in disputed and order_id in truth:
            report.awaiting_dispatcher.append(mismatch)
        else:
            report.mismatches.append(mismatch)
    return report


def courier_problems() -> list[str]:
    """Couriers whose status disagrees with their assigned deliveries (a busy courier has exactly one)."""
    from django.db.models import Count, Q

    from couriers.models import Courier, Delivery

    couriers = (
        Courier.objects.annotate(assigned=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.ASSIGNED)))
        .order_by("id")
        .values_list("id", "status", "assigned")
    )
    problems = []
    for courier_id, status, assigned in couriers:
        if assigned > 1:
            problems.append(f"courier {courier_id} ({status}) holds {assigned} assigned deliveries")
        elif status == Courier.Status.BUSY and assigned == 0:
            problems.append(f"courier {courier_id} is busy without an assigned delivery")
        elif status != Courier.Status.BUSY and assigned == 1:
            problems.append(f"courier {courier_id} is {status} but holds an assigned delivery")
    return problems


def idle_while_waiting(using: str = "default") -> list[str]:
    """Once the service is quiet, no courier may be available while a delivery awaits a courier.

    Only for a quiet service: between two commits of a busy one it may hold for a moment. A disputed delivery
    takes no courier until its dispute is settled: it is not in the queue.
    """
    from couriers.models import Courier, Delivery
    from couriers.selectors import queued

    waiting = Delivery.objects.using(using).filter(queued()).count()
    if not waiting:
        return []
    idle = (
        Courier.objects.using(using)
        .filter(status=Courier.Status.AVAILABLE)
        .exclude(deliveries__status=Delivery.Status.ASSIGNED)
        .order_by("id")
        .values_list("id", flat=True)
    )
    return [f"courier {courier_id} is available while {waiting} deliveries await a courier" for courier_id in idle]
