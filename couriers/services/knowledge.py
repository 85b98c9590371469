"""What we know of an order (OrderKnowledge), and what it asks of the order's delivery.

Reading comes from three sides, in any order and more than once: service-order's answers (a reading), the
events' claims (an announced end), and a dispatcher's verdict on a dispute. Each is merged into the order's
one knowledge row under its lock; the decision is then a function of that row alone (`target`), so it is
the same whatever path brought the news (a batch, the sweep, a dispatcher, a replay) and in whatever order.

Disputes. The rule of the house is to act on service-order's answer, never on the event. But the real
service-order reads every order older than its 10-minute mark as `delivering`, completed ones included, for
good: its `completed` event is then the only sign that the order ended. So an end announced by an event
while the latest answer reads the order active is remembered (a dispute), whatever exists yet: before the
order's delivery, in the check that starts it, among a backlog's collapsed events. A disputed delivery never
takes a courier; the end is accepted once it has stood for DISPUTE_GRACE (the first reads after an end can
honestly lag), or by a dispatcher (with DISPUTE_GRACE=never only by one). A dispatcher's rejection sticks:
only an end event produced after it opens the dispute again.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.utils import timezone

from couriers.models import OrderKnowledge
from couriers.phases import ENDS, Phase, phase_of, read_phase


@dataclass(frozen=True)
class Reading:
    """One check of an order: service-order's answer when asked at `asked_at`, and what its events claimed.

    `produced_at`: when the newest of those events was produced (Kafka's timestamp), None if unknown.
    """

    order_id: str
    event_statuses: tuple[str, ...]
    order_status: str | None  # None: service-order does not know the order
    asked_at: datetime
    produced_at: datetime | None = None

    @property
    def read_status(self) -> str:
        return OrderKnowledge.NOT_FOUND if self.order_status is None else self.order_status

    @property
    def phase(self) -> Phase:
        return read_phase(self.read_status)

    @property
    def announced_end(self) -> str | None:
        """The last end (done or cancelled) among the events, if any."""
        ends = [status for status in self.event_statuses if phase_of(status) in ENDS]
        return ends[-1] if ends else None


def grace() -> timedelta | None:
    """How long a dispute stands before the announced end is accepted; None: never (a dispatcher decides)."""
    return None if settings.DISPUTE_GRACE is None else timedelta(seconds=settings.DISPUTE_GRACE)


def knowledge_locked(reading: Reading, *, reopen: bool = False) -> tuple[OrderKnowledge, bool]:
    """The order's knowledge row, locked, with `reading` merged in; and whether a dispute opened with it.

    Created from the reading if the order is new to us. The caller holds a transaction, and takes the row's
    lock before any of the order's delivery and courier (every path does, so none waits in the other order).
    `reopen`: an operator's reading, which may bring an ended order back.
    """
    known, created = OrderKnowledge.objects.select_for_update().get_or_create(
        order_id=reading.order_id, defaults={"read_status": reading.read_status, "read_at": reading.asked_at}
    )
    fields = []
    if not created and _replaces(reading, known, reopen=reopen):
        known.read_status, known.read_at = reading.read_status, reading.asked_at
        fields += ["read_status", "read_at"]
    opened = _hear_end(known, reading)
    if opened:
        fields += ["end_announced", "end_announced_at", "verdict", "verdict_at"]
    if fields:
        known.save(update_fields=[*fields, "updated_at"])
    return known, opened


def _replaces(reading: Reading, known: OrderKnowledge, *, reopen: bool) -> bool:
    """Whether the reading's answer is the one to keep. An older answer, committed late, never wins. An ended
    order stays ended: its statuses are terminal at service-order, so an active answer after one is a read
    by its 10-minute rule (`delivering` for good), not news; only an operator brings the order back."""
    if reading.asked_at <= known.read_at:
        return False
    return reopen or reading.phase in ENDS or read_phase(known.read_status) not in ENDS


def _hear_end(known: OrderKnowledge, reading: Reading) -> bool:
    """Remember the end the events announced if the latest answer contradicts it; True if a dispute opens."""
    end = reading.announced_end
    if end is None or known.end_announced or read_phase(known.read_status) is not Phase.ACTIVE:
        return False
    if known.verdict == OrderKnowledge.Verdict.REJECTED and not _after(reading.produced_at, known.verdict_at):
        return False  # the news a dispatcher already judged (a duplicate, or the event read again)
    known.end_announced, known.end_announced_at = end, timezone.now()
    known.verdict, known.verdict_at = "", None
    return True


def _after(produced_at: datetime | None, verdict_at: datetime | None) -> bool:
    return produced_at is not None and verdict_at is not None and produced_at > verdict_at


class Target(StrEnum):
    """What the knowledge asks of the order's delivery."""

    COURIER = "courier"  # a delivery with a courier, or waiting for one
    DISPUTED = "disputed"  # a delivery that takes no new courier until the dispute is settled
    DONE = "done"  # ended: its delivery completed, its courier freed; none made
    CANCELLED = "cancelled"  # gone (cancelled, deleted, never known): likewise cancelled
    AS_IS = "as_is"  # a status we do not know: nothing changes


@dataclass(frozen=True)
class Decision:
    target: Target
    by_grace: bool = False  # ended by the dispute's rule, its grace over (not by an answer)


_ENDED = {Phase.DONE: Target.DONE, Phase.CANCELLED: Target.CANCELLED}


def target(known: OrderKnowledge, now: datetime) -> Decision:
    """The decision the knowledge makes: a function of the row alone."""
    phase = read_phase(known.read_status)
    if phase is Phase.UNKNOWN:
        return Decision(Target.AS_IS)
    if phase in ENDS:
        return Decision(_ENDED[phase])
    if not known.end_announced:
        return Decision(Target.COURIER)
    limit = grace()
    if limit is not None and now - known.end_announced_at >= limit:
        return Decision(_ENDED[phase_of(known.end_announced)], by_grace=True)
    return Decision(Target.DISPUTED)
