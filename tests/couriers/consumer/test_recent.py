"""RecentChecks: an event produced before a check of its order began is answered by that check."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from couriers.consumer.events import OrderEvent
from couriers.consumer.recent import RecentChecks
from couriers.services import Reading
from tests.fakes import FakeMessage

ASKED = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
SKEW = 1.0


def produced(seconds_before_check: float) -> int:
    """A Kafka timestamp (ms) this long before the check was asked."""
    return round((ASKED - timedelta(seconds=seconds_before_check)).timestamp() * 1000)


def pair(order_id: str, status: str, timestamp_ms: int | None) -> tuple[FakeMessage, OrderEvent]:
    return FakeMessage(b"{}", timestamp_ms=timestamp_ms), OrderEvent(order_id, status)


def checked(order_id: str = "o1", status: str | None = "cooking", events=("created",), asked_at=ASKED) -> Reading:
    return Reading(order_id, tuple(events), status, asked_at)


def recent(*readings: Reading, size: int = 100) -> RecentChecks:
    checks = RecentChecks(size=size, clock_skew=SKEW)
    for reading in readings:
        checks.remember(reading)
    return checks


def test_events_produced_before_the_check_began_are_answered_by_it():
    reading = checked()
    events = [pair("o1", "pending", produced(5)), pair("o1", "cooking", produced(SKEW))]

    assert recent(reading).answered(events) is reading


def test_an_event_produced_after_the_check_or_within_the_clock_skew_is_not():
    checks = recent(checked())

    assert checks.answered([pair("o1", "cooking", produced(0.5))]) is None
    assert checks.answered([pair("o1", "cooking", produced(-3))]) is None
    assert checks.answered([pair("o1", "cooking", produced(5)), pair("o1", "cooking", produced(0))]) is None, (
        "one event the check cannot answer: the order is asked again, for all of them"
    )


def test_without_a_timestamp_or_a_check_of_its_order_nothing_is_answered():
    checks = recent(checked())

    assert checks.answered([pair("o1", "cooking", None)]) is None
    assert checks.answered([pair("o2", "cooking", produced(5))]) is None


def test_an_end_is_answered_only_by_a_check_that_weighed_it_or_found_the_order_ended():
    event = [pair("o1", "completed", produced(5))]

    assert recent(checked(status="delivering")).answered(event) is None, "it may open a dispute"
    assert recent(checked(status="delivering", events=("completed",))).answered(event) is not None
    assert recent(checked(status="completed", events=("cooking",))).answered(event) is not None
    assert recent(checked(status="canceled")).answered([pair("o1", "cancelled", produced(5))]) is not None


def test_an_older_check_never_replaces_a_newer_one():
    newer = checked(asked_at=ASKED)
    checks = recent(newer, checked(status="created", asked_at=ASKED - timedelta(seconds=10)))

    assert checks.answered([pair("o1", "created", produced(5))]) is newer


def test_the_orders_remembered_are_bounded_the_least_recently_checked_forgotten():
    checks = recent(checked("o1"), checked("o2"), checked("o3"), checked("o1"), size=2)

    assert list(checks.checks) == ["o3", "o1"]
    assert recent(checked("o1"), size=0).checks == {}


@given(
    lead=st.floats(min_value=-3600, max_value=3600, allow_nan=False),
    status=st.sampled_from(["created", "cooking", "delivering", "completed", "cancelled", "deleted", "odd"]),
    found=st.sampled_from([None, "cooking", "delivering", "completed", "canceled"]),
)
def test_an_answered_event_was_produced_at_least_the_skew_before_the_check(lead, status, found):
    reading = checked(status=found)
    timestamp = produced(lead)

    answer = recent(reading).answered([pair("o1", status, timestamp)])

    assert (answer is not None) <= (timestamp / 1000 + SKEW <= ASKED.timestamp())
    if answer is not None and status in ("completed", "cancelled", "deleted") and found in ("cooking", "delivering"):
        raise AssertionError("an end the check never weighed was answered about an active order")
