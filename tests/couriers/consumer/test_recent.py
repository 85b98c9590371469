"""RecentChecks: an event produced before a check of its order began is answered by that check."""

import dataclasses
import math
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from couriers.consumer.events import OrderEvent
from couriers.consumer.recent import RecentChecks
from couriers.services import Reading, order_read
from tests.fakes import FakeMessage, FakeOrderClient

SKEW = 1.0
# Literal, not couriers.phases: the rule is checked against what service-order's statuses mean.
END_EVENTS = ("completed", "delivered", "canceled", "cancelled", "deleted")
ENDED_ANSWERS = (None, "completed", "delivered", "canceled", "cancelled", "deleted")  # None: a 404
ACTIVE_ANSWERS = ("created", "pending", "confirmed", "cooking", "delivering", "updated")


def checked(order_id: str = "o1", status: str | None = "cooking", events=("created",)) -> Reading:
    """A check as the batch makes it: service-order asked (None: it answers 404), with the events it was for."""
    orders = FakeOrderClient()
    if status is not None:
        orders.set(order_id, status)
    return order_read(order_id=order_id, event_statuses=list(events), client=orders)


def produced(check: Reading, seconds_before_check: float) -> int:
    """A Kafka timestamp (ms) this long before the check was asked; floored, so never after that instant."""
    return math.floor((check.asked_at - timedelta(seconds=seconds_before_check)).timestamp() * 1000)


def pair(order_id: str, status: str, timestamp_ms: int | None) -> tuple[FakeMessage, OrderEvent]:
    return FakeMessage(b"{}", timestamp_ms=timestamp_ms), OrderEvent(order_id, status)


def recent(*readings: Reading, size: int = 100) -> RecentChecks:
    checks = RecentChecks(size=size, clock_skew=SKEW)
    for reading in readings:
        checks.remember(reading)
    return checks


def test_events_produced_before_the_check_began_are_answered_by_it():
    reading = checked()
    events = [pair("o1", "pending", produced(reading, 5)), pair("o1", "cooking", produced(reading, SKEW))]

    assert recent(reading).answered(events) is reading


def test_an_event_produced_after_the_check_or_within_the_clock_skew_is_not():
    reading = checked()
    checks = recent(reading)

    assert checks.answered([pair("o1", "cooking", produced(reading, 0.5))]) is None
    assert checks.answered([pair("o1", "cooking", produced(reading, -3))]) is None
    assert (
        checks.answered([pair("o1", "cooking", produced(reading, 5)), pair("o1", "cooking", produced(reading, 0))])
        is None
    ), "one event the check cannot answer: the order is asked again, for all of them"


def test_without_a_timestamp_or_a_check_of_its_order_nothing_is_answered():
    reading = checked()
    checks = recent(reading)

    assert checks.answered([pair("o1", "cooking", None)]) is None
    assert checks.answered([pair("o2", "cooking", produced(reading, 5))]) is None


def test_an_end_is_not_answered_by_a_check_that_read_the_order_active_even_one_made_for_that_end():
    # service-order after its 10-minute mark: delivering, completed orders too. The end must reach the
    # order's knowledge (a dispute), even if the check remembered was itself asked on a copy of that event.
    for events in (("created",), ("completed",), ("created", "completed")):
        reading = checked(status="delivering", events=events)

        assert recent(reading).answered([pair("o1", "completed", produced(reading, 5))]) is None, events


def test_an_end_is_answered_by_a_check_that_found_the_order_ended_or_not_found():
    for status, end in [("completed", "completed"), ("canceled", "cancelled"), (None, "deleted"), (None, "completed")]:
        reading = checked(status=status, events=("cooking",))
        event = [pair("o1", end, produced(reading, 5)), pair("o1", "cooking", produced(reading, 5))]

        assert recent(reading).answered(event) is reading, (status, end)


def test_an_older_check_never_replaces_a_newer_one():
    newer = checked()
    older = dataclasses.replace(checked(status="created"), asked_at=newer.asked_at - timedelta(seconds=10))
    checks = recent(newer, older)

    assert checks.answered([pair("o1", "created", produced(newer, 5))]) is newer


def test_the_orders_remembered_are_bounded_the_least_recently_checked_forgotten():
    checks = recent(checked("o1"), checked("o2"), checked("o3"), checked("o1"), size=2)

    assert list(checks.checks) == ["o3", "o1"]
    assert recent(checked("o1"), size=0).checks == {}


@given(
    lead=st.floats(min_value=-3600, max_value=3600, allow_nan=False),
    status=st.sampled_from([*ACTIVE_ANSWERS, *END_EVENTS, "odd"]),
    found=st.sampled_from([*ACTIVE_ANSWERS, *ENDED_ANSWERS, "teleported"]),
    check_events=st.lists(st.sampled_from(["created", "cooking", *END_EVENTS]), min_size=1, max_size=3),
)
def test_an_event_is_answered_exactly_when_produced_before_the_check_and_no_end_the_check_read_active(
    lead, status, found, check_events
):
    reading = checked(status=found, events=check_events)
    timestamp = produced(reading, lead)

    answer = recent(reading).answered([pair("o1", status, timestamp)])

    before_the_check = timestamp / 1000 + SKEW <= reading.asked_at.timestamp()
    news = status in END_EVENTS and found not in ENDED_ANSWERS  # an end the check did not find
    assert (answer is reading) == (before_the_check and not news)
