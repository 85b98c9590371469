"""What happened to each order of a run, counted once per order: the report's first table.

Events repeat (duplicates, retries after an outage), so counting them says little about orders; and a courier
handed over from the queue comes with another order's event, never as an `assigned` outcome of this one.
The database tells where each order's delivery ended; the consumer's log tells which orders had to wait.
"""

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from couriers.models import Delivery
from couriers.selectors import delivery_disputed

QUEUED = "queued"


@dataclass(frozen=True)
class OrderFates:
    orders: int  # created at service-order
    directly: int  # a courier was free when the order was first acted on
    from_queue: int  # waited, then took a courier freed by another order
    waited: int  # queued at least once
    still_waiting: int  # in the queue: a disputed delivery is not, it counts in the disputes
    ended_waiting: int  # completed or cancelled at service-order before a courier came
    on_the_way: int  # assigned now, not disputed
    completed: int
    cancelled: int
    no_delivery: int  # had ended before the consumer first asked about it: nothing to do
    never_existed: int  # ids service-order never had (404): they must have no delivery

    @property
    def got_courier(self) -> int:
        return self.directly + self.from_queue


def queued_orders(consumer_log: Path) -> set[str]:
    """Ids of the orders the consumer queued at least once, from its JSON log lines."""
    queued = set()
    for line in consumer_log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("outcome") == QUEUED:
                queued.add(record["order_id"])
    return queued


def order_fates(truth: Mapping[str, str], foreign_ids: Iterable[str], queued: set[str]) -> OrderFates:
    # One pass over the table rather than an IN list with a parameter per order (see sandbox.verify).
    by_status: defaultdict[str, set[str]] = defaultdict(set)
    had_courier = set()
    for order_id, status, courier_id in Delivery.objects.values_list("order_id", "status", "courier_id").iterator():
        if order_id in truth:
            by_status[status].add(order_id)
            if courier_id is not None:
                had_courier.add(order_id)
    disputed = set(delivery_disputed(Delivery.objects.all()).values_list("order_id", flat=True).iterator())
    waited = queued & truth.keys()
    finished = by_status[Delivery.Status.COMPLETED] | by_status[Delivery.Status.CANCELLED]
    return OrderFates(
        orders=len(truth),
        directly=len(had_courier - waited),
        from_queue=len(had_courier & waited),
        waited=len(waited),
        still_waiting=len(by_status[Delivery.Status.AWAITING_COURIER] - disputed),
        ended_waiting=len((waited & finished) - had_courier),
        on_the_way=len(by_status[Delivery.Status.ASSIGNED] - disputed),
        completed=len(by_status[Delivery.Status.COMPLETED]),
        cancelled=len(by_status[Delivery.Status.CANCELLED]),
        no_delivery=len(truth) - sum(len(ids) for ids in by_status.values()),
        never_existed=len(set(foreign_ids) - truth.keys()),
    )
