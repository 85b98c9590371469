"""Parked orders in the consume loop: an order failing on its own is set aside, its partitions move on.

Per batch: an order already set aside is not tried out of its turn (its new events join it, or go to the
dead-letter topic at once if it was given up); the orders whose turn came are taken into the batch beside
the new events; what the batch made of each is settled here. An outage counts against no order: the orders
taken go back untried, and none is taken again before the partitions' backoff would let them resume.
"""

import logging
import time
from collections.abc import Callable, Collection
from contextlib import suppress
from datetime import timedelta

from confluent_kafka import Message
from django.db import DatabaseError

from couriers import metrics
from couriers.consumer.backoff import Backoff
from couriers.consumer.dead_letters import ATTEMPTS, LAST_ERROR, DeadLetters, Letter
from couriers.consumer.events import OrderEvent
from couriers.phases import ENDS, phase_of
from couriers.services import (
    ParkedEvent,
    ParkedOrder,
    ParkingRules,
    order_park,
    order_parked_settle,
    orders_parked,
    orders_parked_release,
    orders_parked_take,
    orders_parked_waiting,
)

logger = logging.getLogger(__name__)

OrderMessages = dict[str, list[tuple[Message, OrderEvent]]]
GIVEN_UP_BEFORE = "order given up before: dead-lettered without a new attempt"


class StoredMessage:
    """A parked event, handed to DeadLetters as the message it was."""

    def __init__(self, event: ParkedEvent) -> None:
        self.event = event

    def value(self) -> bytes:
        return self.event.value

    def key(self) -> None:
        return None

    def headers(self) -> None:
        return None

    def topic(self) -> str:
        return self.event.topic

    def partition(self) -> int:
        return self.event.partition

    def offset(self) -> int:
        return self.event.offset


class ParkedOrders:
    def __init__(
        self,
        *,
        dead_letters: DeadLetters,
        max_attempts: int,
        backoff: Backoff,
        give_up_window: float,
        lease: float,
        limit: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dead_letters = dead_letters
        self.rules = ParkingRules(max_attempts, backoff.delay, timedelta(seconds=give_up_window))
        self.backoff = backoff
        self.lease = timedelta(seconds=lease)
        self.limit = limit
        self.clock = clock
        self.held_until = 0.0
        self.outage_turns = 0
        self.to_dead_letter: list[tuple[ParkedOrder, str, tuple[tuple[str, bytes], ...]]] = []

    def take(self) -> dict[str, ParkedOrder]:
        """The orders whose turn came (none while an outage holds them back)."""
        if self.clock() < self.held_until:
            return {}
        try:
            return {parked.order_id: parked for parked in orders_parked_take(limit=self.limit, lease=self.lease)}
        except DatabaseError as exc:
            logger.debug("parked orders not taken: %s", exc)  # the batch finds out whether the database is down
            return {}

    def waiting(self) -> bool:
        """Whether some order's events are still set aside (idle is not idle then); unknown counts as yes."""
        try:
            return orders_parked_waiting()
        except DatabaseError:
            return True

    def set_aside(self, by_order: OrderMessages, taken: dict[str, ParkedOrder]) -> list[Letter]:
        """Orders of the batch set aside already, taken out of it: their events join them (their offsets may be
        stored), or, given up, are returned as letters. Taken orders that are given up only await the DLQ."""
        for order_id in [order_id for order_id, parked in taken.items() if parked.given_up]:
            given_up = taken.pop(order_id)
            self._dead_letter(given_up, *_gave_up(given_up))
        try:
            parked = orders_parked(
                order_ids=[order_id for order_id in by_order if order_id not in taken], rules=self.rules
            )
        except DatabaseError:
            return []  # each is tried: the batch finds out whether the database is down
        letters = []
        for order_id, given_up in parked.items():
            pairs = by_order[order_id]
            if given_up:
                letters += self._given_up(by_order, order_id)
            elif self._join(order_id, pairs):
                del by_order[order_id]
        return letters

    @staticmethod
    def _given_up(by_order: OrderMessages, order_id: str) -> list[Letter]:
        """A given-up order's events go to the DLQ at once, but for its ends: read all the same, they can only
        free a courier (a failure of theirs is dead-lettered without a new round of attempts)."""
        ends = [(message, event) for message, event in by_order[order_id] if phase_of(event.status) in ENDS]
        others = [message for message, event in by_order[order_id] if phase_of(event.status) not in ENDS]
        if ends:
            by_order[order_id] = ends
        else:
            del by_order[order_id]
        return [Letter(message, GIVEN_UP_BEFORE) for message in others]

    def failed(self, order_id: str, pairs: list[tuple[Message, OrderEvent]], error: BaseException | None) -> bool:
        """One failed attempt: the order's events set aside, given up at the limit. False if they could not be
        (the database refused): its messages are then retried from Kafka."""
        described = f"{type(error).__name__}: {error}"
        try:
            parked = order_park(order_id=order_id, events=_events(pairs), error=described, rules=self.rules)
        except DatabaseError as exc:
            logger.warning("order %s not set aside: %s", order_id, exc, extra={"order_id": order_id})
            return False
        assert parked is not None  # a failed attempt always parks
        if parked.given_up:
            metrics.GAVE_UP.inc()
            logger.error(
                "order %s gave up after %s attempts, its events dead-lettered: %s",
                order_id,
                parked.attempts,
                described,
                extra={"order_id": order_id, "outcome": "dead_lettered"},
            )
            self._dead_letter(parked, *_gave_up(parked))
        else:
            logger.warning(
                "order %s failed (attempt %s of %s), set aside for a retry: %s",
                order_id,
                parked.attempts,
                self.rules.max_attempts,
                described,
                extra={"order_id": order_id},
            )
        return True

    def done(self, parked: ParkedOrder | None) -> None:
        """A parked order processed: the events it was taken with are done with."""
        if parked is not None:
            logger.info(
                "order %s: its %s events set aside are processed",
                parked.order_id,
                len(parked.events),
                extra={"order_id": parked.order_id},
            )
            self._settle(parked.order_id, {event.origin for event in parked.events})

    def rejected(self, parked: ParkedOrder | None, error: BaseException | None) -> None:
        if parked is not None:
            self._dead_letter(parked, f"service-order rejected the order id: {error}", ())

    def later(self, taken: Collection[str], *, outage: bool) -> None:
        """Taken but not tried: they go back uncounted. In an outage none is taken before the backoff's wait is
        over; otherwise (the batch's time budget spent) they are due again at once."""
        delay = 0.0
        if outage:
            self.outage_turns += 1
            delay = self.backoff.delay(self.outage_turns)
            self.held_until = self.clock() + delay
        with suppress(DatabaseError):  # if not released, their lease runs out all the same
            orders_parked_release(order_ids=taken, retry_in=delay)

    def outage_over(self) -> None:
        self.outage_turns = 0

    def send_letters(self) -> None:
        """Dead-letter the events of the orders given up; what the DLQ took leaves the table, the rest waits."""
        pending, self.to_dead_letter = self.to_dead_letter, []
        for parked, reason, headers in pending:
            letters = [Letter(StoredMessage(event), reason, headers) for event in parked.events]
            failed = self.dead_letters.send(letters)
            self._settle(parked.order_id, {event.origin for event in parked.events} - failed)

    def _dead_letter(self, parked: ParkedOrder, reason: str, headers: tuple[tuple[str, bytes], ...]) -> None:
        self.to_dead_letter.append((parked, reason, headers))

    def _join(self, order_id: str, pairs: list[tuple[Message, OrderEvent]]) -> bool:
        try:
            joined = order_park(order_id=order_id, events=_events(pairs), error=None, rules=self.rules)
        except DatabaseError:
            return False
        if joined is not None:
            logger.info("order %s is set aside: %s events join it", order_id, len(pairs), extra={"order_id": order_id})
        return joined is not None

    def _settle(self, order_id: str, origins: set[tuple[str, int, int]]) -> None:
        try:
            order_parked_settle(order_id=order_id, origins=origins)
        except DatabaseError as exc:
            # Its events stay set aside: processed or dead-lettered once more later, at least once.
            logger.warning("parked order %s not settled: %s", order_id, exc, extra={"order_id": order_id})


def _gave_up(parked: ParkedOrder) -> tuple[str, tuple[tuple[str, bytes], ...]]:
    headers = ((ATTEMPTS, str(parked.attempts).encode()), (LAST_ERROR, parked.last_error.encode(errors="replace")))
    return f"gave up after {parked.attempts} failed attempts", headers


def _events(pairs: list[tuple[Message, OrderEvent]]) -> list[ParkedEvent]:
    return [
        ParkedEvent(message.topic(), message.partition(), message.offset(), event.status, message.value())
        for message, event in pairs
    ]
