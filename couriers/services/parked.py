"""Orders set aside after failing on their own, so that their partitions move on without them.

A failing order's events are written here (committed before their offsets are stored) and the consumer
takes the order up again when `retry_at` comes. Attempts are counted per order, whichever partition or
consumer made them; at the limit the order is given up: its events are handed back to be dead-lettered,
and its later events are dead-lettered at once for a window, without a new round of attempts.
"""

import base64
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from couriers.models import OrderFailure

LAST_ERROR_LENGTH = 1000

Origin = tuple[str, int, int]  # topic, partition, offset


@dataclass(frozen=True)
class ParkedEvent:
    """One event set aside: where it came from, what it said, and the message itself (for the DLQ)."""

    topic: str
    partition: int
    offset: int
    status: str
    value: bytes

    @property
    def origin(self) -> Origin:
        return self.topic, self.partition, self.offset

    def to_json(self) -> dict[str, object]:
        # Base64: an event may be valid JSON in UTF-16 or UTF-32; the DLQ gets the bytes that came.
        return {**self._where(), "status": self.status, "value": base64.b64encode(self.value).decode()}

    def _where(self) -> dict[str, object]:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}

    @classmethod
    def from_json(cls, data: dict) -> "ParkedEvent":
        return cls(data["topic"], data["partition"], data["offset"], data["status"], base64.b64decode(data["value"]))


@dataclass(frozen=True)
class ParkedOrder:
    order_id: str
    events: tuple[ParkedEvent, ...]
    attempts: int
    last_error: str
    given_up: bool  # its events are to be dead-lettered, not tried again


@dataclass(frozen=True)
class ParkingRules:
    max_attempts: int
    retry_in: Callable[[int], float]  # seconds before the next attempt, after the n-th failed one
    give_up_window: timedelta  # a given-up order's later events are dead-lettered at once this long


def orders_parked(*, order_ids: Collection[str], rules: ParkingRules) -> dict[str, bool]:
    """Which of these orders are set aside now: order id -> whether it is given up (else waiting its turn)."""
    rows = OrderFailure.objects.filter(order_id__in=list(order_ids)).filter(_current(rules))
    return {order_id: given_up_at is not None for order_id, given_up_at in rows.values_list("order_id", "given_up_at")}


def order_park(
    *, order_id: str, events: Sequence[ParkedEvent], error: str | None, rules: ParkingRules
) -> ParkedOrder | None:
    """Set the order's events aside. With `error`, after a failed attempt at it (counted: at the limit the order
    is given up). Without, the events only join the order while it waits; None if it no longer does (its
    earlier events were processed meanwhile): these must then be processed like any."""
    try:
        return _park(order_id, events, error, rules)
    except IntegrityError:
        # Another consumer set the order aside at the same moment (a rebalance hands its events to two): its
        # row exists now, and the second try locks it and joins it.
        return _park(order_id, events, error, rules)


def _park(order_id: str, events: Sequence[ParkedEvent], error: str | None, rules: ParkingRules) -> ParkedOrder | None:
    now = timezone.now()
    with transaction.atomic():
        row = _locked_row(order_id)
        if row is not None and row.given_up_at is not None and row.given_up_at < now - rules.give_up_window:
            row.delete()  # the window passed: a new round of attempts
            row = None
        if row is None and error is None:
            return None
        if row is None:
            row = OrderFailure(order_id=order_id, attempts=0, events=[])
        row.events = _merged(row.events, events)
        if error is not None and row.given_up_at is None:
            row.attempts += 1
            row.last_error = error[:LAST_ERROR_LENGTH]
            if row.attempts >= rules.max_attempts:
                row.given_up_at = now
        if row.given_up_at is not None:
            row.retry_at = now  # due at once, for its events to be dead-lettered
        elif error is not None:
            row.retry_at = now + timedelta(seconds=rules.retry_in(row.attempts))
        elif row.retry_at is None:
            row.retry_at = now  # a row counted before orders were set aside had no turn: its events' is now
        row.save()  # events that only join keep the order's turn
    return _parked(row)


def orders_parked_take(*, limit: int, lease: timedelta) -> list[ParkedOrder]:
    """Up to `limit` orders whose turn came, each claimed for `lease` (a conditional UPDATE, so that consumers
    share them; a consumer that dies holding one leaves it to the others after the lease)."""
    now = timezone.now()
    due = OrderFailure.objects.filter(retry_at__lte=now).exclude(events=[]).order_by("retry_at")[:limit]
    taken = []
    for row in due:
        if OrderFailure.objects.filter(pk=row.pk, retry_at=row.retry_at).update(retry_at=now + lease):
            taken.append(_parked(row))
    return taken


def order_parked_settle(*, order_id: str, origins: Collection[Origin]) -> None:
    """These of its events are dealt with (processed, or taken by the DLQ). Events that joined meanwhile are
    due at once; with none left the row goes, unless the order is given up (it stays for the window)."""
    with transaction.atomic():
        row = OrderFailure.objects.select_for_update().filter(order_id=order_id).first()
        if row is None:
            return
        row.events = [event for event in row.events if ParkedEvent.from_json(event).origin not in origins]
        if not row.events and row.given_up_at is None:
            row.delete()
            return
        row.retry_at = timezone.now()
        row.save(update_fields=["events", "retry_at"])


def orders_parked_release(*, order_ids: Collection[str], retry_in: float) -> None:
    """Taken, but not tried (service-order or the database down): no attempt counted, due again in a while."""
    retry_at = timezone.now() + timedelta(seconds=retry_in)
    OrderFailure.objects.filter(order_id__in=list(order_ids)).update(retry_at=retry_at)


def orders_given_up_forget(*, order_ids: Collection[str]) -> None:
    """These orders are no longer given up (an operator replays their events): the next failure counts from one."""
    OrderFailure.objects.filter(order_id__in=list(order_ids), given_up_at__isnull=False).delete()


def orders_parked_waiting() -> bool:
    """Whether some order's events are still set aside (to try again, or to dead-letter)."""
    return OrderFailure.objects.exclude(events=[]).exists()


def _locked_row(order_id: str) -> OrderFailure | None:
    return OrderFailure.objects.select_for_update().filter(order_id=order_id).first()


def _current(rules: ParkingRules) -> Q:
    return Q(given_up_at__isnull=True) | Q(given_up_at__gte=timezone.now() - rules.give_up_window)


def _merged(stored: list[dict], events: Sequence[ParkedEvent]) -> list[dict]:
    """The stored events and the new ones, each origin once (an event read again after a rewind)."""
    known = {ParkedEvent.from_json(event).origin for event in stored}
    return [*stored, *(event.to_json() for event in events if event.origin not in known)]


def _parked(row: OrderFailure) -> ParkedOrder:
    return ParkedOrder(
        order_id=row.order_id,
        events=tuple(ParkedEvent.from_json(event) for event in row.events),
        attempts=row.attempts,
        last_error=row.last_error,
        given_up=row.given_up_at is not None,
    )
