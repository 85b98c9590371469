"""service-order's orders in memory: each one a timeline of status changes, read against a clock."""

import heapq
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# service-order's timers: each status and how long after the previous one it comes.
LIFECYCLE: tuple[tuple[str, float], ...] = (
    ("pending", 1.0),
    ("confirmed", 5.0),
    ("cooking", 5.0),
    ("delivering", 300.0),
    ("completed", 600.0),
)
LIFETIME = sum(delay for _, delay in LIFECYCLE)
TERMINAL = frozenset({"canceled", "deleted", "completed"})

# How reads answer. "faithful": the real service-order's read-side rule, which is not its timers' rule
# (see ../shared/reference/service-order.md): an order past its 10-minute mark that is not cancelled or
# deleted reads `delivering`, completed ones included, for good; a created or pending one past its
# 1-minute mark reads `cooking`. "consistent": reads follow the timeline, as the events do.
READS = ("faithful", "consistent")
DELIVERING_MARK = 600.0
COOKING_MARK = 60.0
ZERO_TIME = "0001-01-01T00:00:00Z"  # what service-order answers for an estimate it never set

_MENU = (("f1", "Pizza", 500), ("f2", "Soup", 250), ("f3", "Salad", 300), ("f4", "Tea", 80))
_NAMES = ("Ivanov I.I.", "Petrova A.S.", "Sidorov P.K.", "Smirnova O.V.")


def random_uuid(rng: random.Random) -> str:
    """A UUID v4 drawn from `rng`, so that a seeded run repeats itself."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def read_status(status: str, age: float, time_scale: float, reads: str = "faithful") -> str:
    """What a read answers for an order in `status`, `age` seconds after its creation (see READS)."""
    if reads == "consistent" or status in ("canceled", "deleted"):
        return status
    if age > DELIVERING_MARK * time_scale:
        return "delivering"
    if status in ("created", "pending") and age > COOKING_MARK * time_scale:
        return "cooking"
    return status


def rfc3339(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class SimClock:
    """Wall-clock seconds that never jump backwards and can be frozen for a final comparison."""

    def __init__(self, source: Callable[[], float] = time.monotonic) -> None:
        self._source = source
        self._offset = time.time() - source()
        self._frozen_at: float | None = None

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def now(self) -> float:
        return self._frozen_at if self._frozen_at is not None else self._offset + self._source()

    def freeze(self) -> None:
        if self._frozen_at is None:
            self._frozen_at = self._offset + self._source()


@dataclass
class Change:
    at: float
    status: str
    dropped: bool = False  # planned, then made moot by a manual change: it never happens


@dataclass
class Order:
    id: str
    details: dict[str, Any]
    timeline: list[Change] = field(default_factory=list)

    def change_at(self, moment: float) -> Change:
        """The last change that happened by `moment`; the first one if none did."""
        current = self.timeline[0]
        for change in self.timeline:
            if change.at > moment:
                break
            current = change
        return current


class OrderStore:
    """Thread-safe orders; their status is recomputed from the timeline on every read."""

    def __init__(
        self, clock: SimClock, time_scale: float = 1.0, rng: random.Random | None = None, reads: str = "faithful"
    ) -> None:
        if reads not in READS:
            raise ValueError(f"reads must be one of {', '.join(READS)}, not {reads!r}")
        self.clock = clock
        self.time_scale = time_scale
        self.reads = reads
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._orders: dict[str, Order] = {}
        self._due: list[tuple[float, int, str, Change]] = []  # changes not taken yet, dropped ones included
        self._live = 0  # changes in _due that are not dropped
        self._sequence = 0

    def new_id(self) -> str:
        with self._lock:
            return random_uuid(self._rng)

    def create(self, order_id: str | None = None, fate: tuple[str, float] | None = None) -> str:
        """A new order, created now. `fate` (status, seconds): a manual change planned in its life."""
        order_id = order_id or self.new_id()
        with self._lock:
            if order_id in self._orders:
                raise ValueError(f"order {order_id} exists already")
            order = Order(order_id, self._details())
            self._orders[order_id] = order
            created = self.clock.now()
            self._append(order, Change(created, "created"))
            # Written ahead like the timers, so that reads and events agree on when the fate struck.
            end = created + fate[1] if fate else float("inf")
            moment = created
            for status, delay in LIFECYCLE:
                moment += delay * self.time_scale
                if moment >= end:
                    break
                self._append(order, Change(moment, status))
            if fate:
                self._append(order, Change(end, fate[0]))
        return order_id

    def cancel(self, order_id: str) -> bool:
        return self._change(order_id, "canceled")

    def delete(self, order_id: str) -> bool:
        return self._change(order_id, "deleted")

    def update(self, order_id: str) -> bool:
        """An edit: the order goes to `updated` and stays there, with no more automatic steps."""
        return self._change(order_id, "updated")

    def _change(self, order_id: str, status: str) -> bool:
        """Apply a manual change now; False if the order is unknown or already terminal."""
        with self._lock:
            order = self._orders.get(order_id)
            now = self.clock.now()
            if order is None or order.change_at(now).status in TERMINAL:
                return False
            # The automatic steps still to come never happen now.
            for change in order.timeline:
                if change.at > now:
                    change.dropped = True
                    self._live -= 1
            order.timeline = [change for change in order.timeline if not change.dropped]
            self._append(order, Change(now, status))
            return True

    def _append(self, order: Order, change: Change) -> None:
        order.timeline.append(change)
        self._sequence += 1
        self._live += 1
        heapq.heappush(self._due, (change.at, self._sequence, order.id, change))

    def status(self, order_id: str) -> str | None:
        """The status now, or None for an unknown order. A deleted order reads "deleted"."""
        with self._lock:
            order = self._orders.get(order_id)
            return order.change_at(self.clock.now()).status if order else None

    def view(self, order_id: str) -> dict[str, Any] | None:
        """The order as GET /order/{id} shows it, or None if unknown or deleted (service-order's 404)."""
        with self._lock:
            order = self._orders.get(order_id)
            if order is None:
                return None
            now = self.clock.now()
            current = order.change_at(now)
            if current.status == "deleted":
                return None
            return {
                "id": order.id,
                **order.details,
                "status": read_status(current.status, now - order.timeline[0].at, self.time_scale, self.reads),
                "created_at": rfc3339(order.timeline[0].at),
                "updated_at": rfc3339(current.at),
                "estimated_delivery": ZERO_TIME,
            }

    def truth(self) -> dict[str, str]:
        """Every order's status now, deleted ones included as "deleted"."""
        with self._lock:
            now = self.clock.now()
            return {order_id: order.change_at(now).status for order_id, order in self._orders.items()}

    def statuses(self, order_id: str) -> list[str]:
        """The order's history so far, in order."""
        with self._lock:
            now = self.clock.now()
            return [change.status for change in self._orders[order_id].timeline if change.at <= now]

    def take_due(self) -> list[tuple[str, str]]:
        """(order id, status) of every change that has happened and was not taken yet, in time order."""
        taken = []
        with self._lock:
            now = self.clock.now()
            while self._due and self._due[0][0] <= now:
                _, _, order_id, change = heapq.heappop(self._due)
                if not change.dropped:
                    self._live -= 1
                    taken.append((order_id, change.status))
        return taken

    def has_due(self) -> bool:
        """Whether a change is still to be taken: it happened already, or is planned and the clock runs."""
        with self._lock:
            while self._due and self._due[0][3].dropped:
                heapq.heappop(self._due)
            if not self.clock.frozen:
                return self._live > 0
            return bool(self._due) and self._due[0][0] <= self.clock.now()

    def _details(self) -> dict[str, Any]:
        rng = self._rng
        items = [
            {"food_id": food_id, "name": name, "quantity": rng.randint(1, 3), "price": price}
            for food_id, name, price in rng.sample(_MENU, rng.randint(1, 3))
        ]
        number = len(self._orders) + 1001
        return {
            "user_id": f"user-{rng.randint(1, 50)}",
            "order_number": f"A-{number}",
            "fio": rng.choice(_NAMES),
            "restaurant_id": f"rest-{rng.randint(1, 5)}",
            "items": items,
            "total_price": sum(item["quantity"] * item["price"] for item in items),
            "address": {"street": rng.choice(("Main", "Lenina", "Park")), "house": str(rng.randint(1, 120))},
        }
