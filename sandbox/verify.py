"""Does the database agree with service-order's truth? The final check of tests and of the demo."""

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
    courier_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.courier_problems

    def summary(self) -> str:
        line = f"{self.consistent} of {self.checked} orders consistent"
        if self.courier_problems:
            line += f"; {len(self.courier_problems)} courier problems"
        return line


def verify(truth: Mapping[str, str], foreign_ids: Iterable[str] = ()) -> Report:
    """Compare deliveries to `truth` ({order id: status}); orders in `foreign_ids` must have no delivery, or
    the cancelled one that records service-order's not-found."""
    from couriers.models import Delivery
    from couriers.phases import phase_of

    expected = {order_id: _ALLOWED.get(phase_of(status), set()) for order_id, status in truth.items()}
    expected.update((order_id, {None, "cancelled"}) for order_id in foreign_ids if order_id not in truth)
    # One pass over the table rather than an IN list with a parameter per order: big runs outgrow those.
    deliveries = {
        order_id: status
        for order_id, status in Delivery.objects.values_list("order_id", "status").iterator()
        if order_id in expected
    }
    report = Report(courier_problems=courier_problems() + idle_while_waiting())
    for order_id, allowed in expected.items():
        report.checked += 1
        delivery = deliveries.get(order_id)
        if delivery in allowed:
            report.consistent += 1
        else:
            report.mismatches.append(Mismatch(order_id, truth.get(order_id, NEVER_EXISTED), delivery))
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

    Only for a quiet service: between two commits of a busy one it may hold for a moment.
    """
    from couriers.models import Courier, Delivery

    waiting = Delivery.objects.using(using).filter(status=Delivery.Status.AWAITING_COURIER).count()
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
