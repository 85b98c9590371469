"""The order store: timelines against a clock the test moves by hand."""

import random
import uuid

import pytest

from sandbox.orders import LIFETIME, OrderStore, SimClock, read_status
from tests.sandbox.test_http import ORDER_FIELDS

LIFE = ["created", "pending", "confirmed", "cooking", "delivering", "completed"]


class ManualTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def time_source() -> ManualTime:
    return ManualTime()


@pytest.fixture
def store(time_source: ManualTime) -> OrderStore:
    """Reads that follow the timeline: these tests are about the timeline (test_faithful_* about reads)."""
    return OrderStore(SimClock(time_source), time_scale=1.0, rng=random.Random(7), reads="consistent")


@pytest.fixture
def faithful(time_source: ManualTime) -> OrderStore:
    return OrderStore(SimClock(time_source), time_scale=1.0, rng=random.Random(7))


@pytest.mark.parametrize(
    ("after", "status"),
    [
        (0.0, "created"),
        (0.999, "created"),
        (1.0, "pending"),
        (5.9, "pending"),
        (6.0, "confirmed"),
        (11.0, "cooking"),
        (310.9, "cooking"),
        (311.0, "delivering"),
        (910.9, "delivering"),
        (911.0, "completed"),
        (10_000.0, "completed"),
    ],
)
def test_an_order_follows_service_orders_timers(store, time_source, after, status):
    order_id = store.create()
    time_source.now += after

    assert store.status(order_id) == status
    assert store.view(order_id)["status"] == status


@pytest.mark.parametrize(
    ("after", "timeline", "read"),
    [
        (0.0, "created", "created"),
        (1.0, "pending", "pending"),
        (11.0, "cooking", "cooking"),
        (311.0, "delivering", "delivering"),
        (911.0, "completed", "delivering"),  # service-order contradicts its own `completed` event
        (10_000.0, "completed", "delivering"),
    ],
)
def test_faithful_reads_follow_the_real_service_orders_rule(faithful, time_source, after, timeline, read):
    order_id = faithful.create()
    time_source.now += after

    assert faithful.status(order_id) == timeline
    assert faithful.view(order_id)["status"] == read


def test_faithful_reads_of_an_edited_order_turn_to_delivering_at_its_ten_minute_mark(faithful, time_source):
    order_id = faithful.create()
    time_source.now += 100
    faithful.update(order_id)

    time_source.now += 499  # 599 s old
    assert faithful.view(order_id)["status"] == "updated"
    time_source.now += 2
    assert faithful.view(order_id)["status"] == "delivering"
    time_source.now += 10_000
    assert faithful.statuses(order_id)[-1] == "updated"  # never advanced by timer, never announced completed


def test_faithful_reads_leave_cancelled_and_deleted_orders_alone(faithful, time_source):
    cancelled, deleted = faithful.create(), faithful.create()
    time_source.now += 20
    faithful.cancel(cancelled)
    faithful.delete(deleted)
    time_source.now += 10_000

    assert faithful.view(cancelled)["status"] == "canceled"
    assert faithful.view(deleted) is None


def test_faithful_marks_follow_the_time_scale(time_source):
    store = OrderStore(SimClock(time_source), time_scale=0.05)
    order_id = store.create()
    time_source.now += 1
    store.update(order_id)

    time_source.now += 28.9  # 29.9 s: within 10 minutes times 0.05
    assert store.view(order_id)["status"] == "updated"
    time_source.now += 0.2
    assert store.view(order_id)["status"] == "delivering"


@pytest.mark.parametrize(
    ("status", "age", "read"),
    [
        ("created", 60.0, "created"),
        ("created", 60.1, "cooking"),
        ("pending", 61.0, "cooking"),
        ("confirmed", 61.0, "confirmed"),
        ("updated", 599.0, "updated"),
        ("completed", 600.1, "delivering"),
        ("created", 600.1, "delivering"),
        ("canceled", 10_000.0, "canceled"),
    ],
)
def test_the_read_rule(status, age, read):
    assert read_status(status, age, time_scale=1.0) == read
    assert read_status(status, age, time_scale=1.0, reads="consistent") == status


def test_an_unknown_read_mode_is_refused(time_source):
    with pytest.raises(ValueError, match="faithful, consistent"):
        OrderStore(SimClock(time_source), reads="truthful")


def test_the_time_scale_shrinks_the_whole_life(time_source):
    store = OrderStore(SimClock(time_source), time_scale=0.001)
    order_id = store.create()

    time_source.now += LIFETIME * 0.001 - 0.0001
    assert store.status(order_id) == "delivering"
    time_source.now += 0.0002
    assert store.status(order_id) == "completed"
    assert store.statuses(order_id) == LIFE


def test_ids_are_uuid4_and_a_seed_repeats_them(time_source):
    first = OrderStore(SimClock(time_source), rng=random.Random(1))
    second = OrderStore(SimClock(time_source), rng=random.Random(1))

    ids = [first.create() for _ in range(5)]

    assert ids == [second.create() for _ in range(5)]
    assert all(uuid.UUID(order_id).version == 4 and str(uuid.UUID(order_id)) == order_id for order_id in ids)
    assert len(set(ids)) == 5


def test_a_cancelled_order_stays_cancelled(store, time_source):
    order_id = store.create()
    time_source.now += 20  # cooking

    assert store.cancel(order_id) is True
    time_source.now += 10_000

    assert store.status(order_id) == "canceled"
    assert store.statuses(order_id) == ["created", "pending", "confirmed", "cooking", "canceled"]
    assert store.update(order_id) is False
    assert store.delete(order_id) is False


def test_a_deleted_order_is_not_found_but_is_deleted_in_the_truth(store, time_source):
    order_id = store.create()
    time_source.now += 2

    assert store.delete(order_id) is True

    assert store.view(order_id) is None
    assert store.status(order_id) == "deleted"
    assert store.truth() == {order_id: "deleted"}


def test_an_updated_order_stays_updated_and_can_still_be_cancelled(store, time_source):
    order_id = store.create()
    time_source.now += 7  # confirmed

    assert store.update(order_id) is True
    time_source.now += 10_000
    assert store.status(order_id) == "updated"

    assert store.cancel(order_id) is True
    assert store.statuses(order_id) == ["created", "pending", "confirmed", "updated", "canceled"]


def test_a_fate_planned_at_creation_cuts_the_life_short(store, time_source):
    order_id = store.create(fate=("canceled", 20.0))

    time_source.now += 19.9
    assert store.status(order_id) == "cooking"
    time_source.now += 0.1
    assert store.status(order_id) == "canceled"
    time_source.now += LIFETIME
    assert store.statuses(order_id) == ["created", "pending", "confirmed", "cooking", "canceled"]


def test_a_completed_order_cannot_change_and_an_unknown_one_is_refused(store, time_source):
    order_id = store.create()
    time_source.now += LIFETIME

    assert store.cancel(order_id) is False
    assert store.cancel(str(uuid.uuid4())) is False
    assert store.status(order_id) == "completed"
    assert store.status(str(uuid.uuid4())) is None


def test_the_view_has_service_orders_shape(store, time_source):
    order_id = store.create()
    time_source.now += 1.5

    order = store.view(order_id)

    assert set(order) == ORDER_FIELDS
    assert order["id"] == order_id
    assert order["status"] == "pending"
    assert order["total_price"] == sum(item["quantity"] * item["price"] for item in order["items"])
    assert order["created_at"].endswith("Z")
    assert order["updated_at"] > order["created_at"]
    assert order["estimated_delivery"] == "0001-01-01T00:00:00Z"


def test_changes_are_taken_once_in_time_order_and_cancelled_steps_never_come(store, time_source):
    first = store.create()
    time_source.now += 0.5
    second = store.create()
    time_source.now += 0.7  # the first is pending, the second not yet

    assert store.take_due() == [(first, "created"), (second, "created"), (first, "pending")]
    assert store.take_due() == []

    store.cancel(first)
    time_source.now += LIFETIME

    taken = store.take_due()
    assert (first, "canceled") in taken
    assert [status for order_id, status in taken if order_id == first] == ["canceled"]
    assert [status for order_id, status in taken if order_id == second] == LIFE[1:]
    assert store.has_due() is False


def test_a_frozen_clock_stops_every_order(store, time_source):
    order_id = store.create()
    time_source.now += 2
    store.clock.freeze()
    time_source.now += LIFETIME

    assert store.status(order_id) == "pending"
    assert store.truth() == {order_id: "pending"}
    assert store.take_due() == [(order_id, "created"), (order_id, "pending")]
    assert store.has_due() is False
