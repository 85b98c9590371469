"""Disputed ends: an event announced the order's end, service-order's reads keep saying it is active."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from couriers.errors import Conflict
from couriers.models import Courier, Delivery
from couriers.phases import Phase, phase_of
from couriers.services import (
    Outcome,
    deliveries_reconcile,
    delivery_cancel,
    delivery_dispute_settle,
    order_event_handle,
    order_events_handle,
    order_read,
    order_reading_apply,
    order_readings_record_settled,
)
from couriers.services.disputes import announced_end, disputes_expired
from gateway.orders import OrderServiceUnavailable

pytestmark = pytest.mark.django_db

STATUSES = ("created", "pending", "cooking", "delivering", "updated", "completed", "delivered", "canceled", "deleted")


def handle(orders, order_id: str, event_status: str) -> Outcome:
    return order_event_handle(order_id=order_id, event_status=event_status, client=orders).outcome


def delivery(order_id: str = "o1") -> Delivery:
    return Delivery.objects.select_related("courier").get(order_id=order_id)


def age_dispute(seconds: float, order_id: str = "o1") -> None:
    Delivery.objects.filter(order_id=order_id).update(end_announced_at=timezone.now() - timedelta(seconds=seconds))


def messages(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records]


@pytest.fixture
def grace(settings):
    settings.DISPUTE_GRACE = 60.0
    return settings


@pytest.fixture
def disputed(orders, make_courier, grace) -> Courier:
    """Order o1 assigned, then announced completed while service-order still reads it delivering."""
    courier = make_courier()
    orders.set("o1", "delivering")
    handle(orders, "o1", "created")
    assert handle(orders, "o1", "completed") == Outcome.STALE
    return courier


class TestOpening:
    def test_an_end_event_contradicted_by_the_read_opens_a_dispute(self, orders, make_courier, grace, caplog):
        courier = make_courier()
        orders.set("o1", "delivering")
        handle(orders, "o1", "created")

        with caplog.at_level(logging.WARNING):
            assert handle(orders, "o1", "completed") == Outcome.STALE

        found = delivery()
        assert (found.status, found.disputed, found.end_announced) == ("assigned", True, "completed")
        assert found.courier == courier
        assert messages(caplog) == [
            "dispute opened: an event says order o1 is completed, service-order reads delivering"
        ]

    def test_the_grace_counts_from_the_first_end_event(self, disputed, orders, caplog):
        first_seen = delivery().end_announced_at

        with caplog.at_level(logging.WARNING):
            assert handle(orders, "o1", "completed") == Outcome.STALE

        assert delivery().end_announced_at == first_seen
        assert messages(caplog) == []  # one line when it opens, not one per event

    def test_an_end_among_collapsed_events_is_not_lost(self, orders, make_courier, grace):
        make_courier()
        orders.set("o1", "delivering")
        handle(orders, "o1", "created")
        reading = order_read(order_id="o1", event_statuses=["delivering", "completed"], client=orders)

        assert order_readings_record_settled(readings=[reading]) == {}  # the consumer's shortcut leaves it out
        assert order_reading_apply(reading=reading, settled_checked=True).outcome == Outcome.STALE
        assert delivery().disputed

    def test_an_order_we_hold_no_open_delivery_for_is_not_disputed(self, orders, make_courier, grace):
        make_courier()
        orders.set("o1", "delivering")

        assert handle(orders, "o1", "completed") == Outcome.STALE
        assert not Delivery.objects.exists()

    def test_an_active_event_opens_none(self, orders, make_courier, grace):
        make_courier()
        orders.set("o1", "delivering")
        handle(orders, "o1", "created")

        assert handle(orders, "o1", "delivering") == Outcome.UNCHANGED
        assert not delivery().disputed


class TestTheRule:
    def test_within_the_grace_a_replayed_end_changes_nothing(self, disputed, orders):
        age_dispute(59)

        assert handle(orders, "o1", "completed") == Outcome.STALE
        assert delivery().status == Delivery.Status.ASSIGNED
        disputed.refresh_from_db()
        assert disputed.status == Courier.Status.BUSY

    def test_past_the_grace_the_announced_end_is_accepted(self, disputed, orders, caplog):
        age_dispute(61)

        with caplog.at_level(logging.WARNING):
            assert handle(orders, "o1", "completed") == Outcome.COMPLETED

        assert delivery().status == Delivery.Status.COMPLETED
        assert not delivery().disputed
        disputed.refresh_from_db()
        assert disputed.status == Courier.Status.AVAILABLE
        assert any("settled by the rule" in message and "completed" in message for message in messages(caplog))

    def test_an_announced_cancellation_cancels(self, orders, make_courier, grace):
        make_courier()
        orders.set("o1", "cooking")
        handle(orders, "o1", "created")
        handle(orders, "o1", "canceled")
        age_dispute(61)

        assert handle(orders, "o1", "canceled") == Outcome.CANCELLED
        assert delivery().status == Delivery.Status.CANCELLED

    def test_the_freed_courier_takes_the_oldest_waiting_order(self, disputed, orders):
        orders.set("o2", "cooking")
        assert handle(orders, "o2", "created") == Outcome.QUEUED
        age_dispute(61)

        handle(orders, "o1", "completed")

        assert delivery("o2").courier == disputed

    def test_never_leaves_it_to_a_dispatcher(self, disputed, orders, grace):
        grace.DISPUTE_GRACE = None
        age_dispute(10**6)

        assert handle(orders, "o1", "completed") == Outcome.STALE
        assert delivery().disputed
        assert disputes_expired() == []

    def test_a_read_that_says_ended_settles_it(self, disputed, orders, caplog):
        orders.set("o1", "completed")

        with caplog.at_level(logging.WARNING):
            assert handle(orders, "o1", "delivering") == Outcome.COMPLETED

        assert not delivery().disputed
        assert any("settled by a later read" in message for message in messages(caplog))

    def test_a_not_found_settles_it_as_cancelled(self, disputed, orders):
        del orders.statuses["o1"]

        assert handle(orders, "o1", "completed") == Outcome.CANCELLED
        assert delivery().status == Delivery.Status.CANCELLED


class TestTheSweep:
    def test_settles_expired_disputes_without_another_event(self, disputed, orders):
        age_dispute(61)
        orders.calls.clear()

        outcomes = deliveries_reconcile(older_than=timedelta(hours=1), client=orders)

        assert outcomes == {Outcome.COMPLETED: 1}
        assert orders.calls == ["o1"]  # asked once more: a read that agrees would decide first
        disputed.refresh_from_db()
        assert disputed.status == Courier.Status.AVAILABLE

    def test_a_read_that_now_says_cancelled_decides(self, disputed, orders):
        age_dispute(61)
        orders.set("o1", "canceled")

        deliveries_reconcile(older_than=timedelta(hours=1), client=orders)

        assert delivery().status == Delivery.Status.CANCELLED

    def test_leaves_disputes_within_their_grace(self, disputed, orders):
        age_dispute(30)
        orders.calls.clear()

        assert deliveries_reconcile(older_than=timedelta(hours=1), client=orders) == {}
        assert orders.calls == []
        assert delivery().disputed

    def test_stops_while_service_order_is_down(self, disputed, orders):
        age_dispute(61)
        orders.fail("o1", OrderServiceUnavailable("down"))

        assert deliveries_reconcile(older_than=timedelta(hours=1), client=orders) == {}
        assert delivery().disputed


class TestDispatcher:
    def test_accepts_the_announced_end(self, disputed, caplog):
        with caplog.at_level(logging.WARNING):
            settled = delivery_dispute_settle(order_id="o1", accept=True)

        assert settled.status == Delivery.Status.COMPLETED
        disputed.refresh_from_db()
        assert disputed.status == Courier.Status.AVAILABLE
        assert any("settled by a dispatcher" in message for message in messages(caplog))

    def test_rejects_it_and_the_delivery_goes_on(self, disputed, orders, caplog):
        with caplog.at_level(logging.WARNING):
            settled = delivery_dispute_settle(order_id="o1", accept=False)

        assert (settled.status, settled.disputed, settled.end_announced) == ("assigned", False, "")
        assert any("rejected" in message for message in messages(caplog))
        assert delivery().end_announced_at is None
        assert disputes_expired() == []

    def test_refuses_a_delivery_not_disputed(self, orders, make_courier):
        make_courier()
        orders.set("o1", "cooking")
        handle(orders, "o1", "created")

        with pytest.raises(Conflict, match="not disputed"):
            delivery_dispute_settle(order_id="o1", accept=True)

    def test_cancelling_a_disputed_delivery_settles_it(self, disputed, caplog):
        with caplog.at_level(logging.WARNING):
            delivery_cancel(order_id="o1")

        assert any("settled by a dispatcher (cancelled)" in message for message in messages(caplog))


def test_a_dispute_survives_as_the_database_does(disputed, orders):
    """What a restart or a rebalance keeps: the row. A fresh reading finds the dispute where it was left."""
    seen = delivery().end_announced_at
    age_dispute(61)
    expected = delivery().end_announced_at
    assert expected < seen

    result = order_events_handle(order_id="o1", event_statuses=["delivering"], client=orders)

    assert result.outcome == Outcome.UNCHANGED  # an active event alone settles nothing
    assert delivery().end_announced_at == expected
    assert disputes_expired() == [("o1", "completed")]


ENDS = (Phase.DONE, Phase.CANCELLED)


@given(st.lists(st.sampled_from(STATUSES) | st.text(max_size=12), max_size=8))
def test_announced_end_is_the_last_end_among_the_events(statuses):
    end = announced_end(tuple(statuses))

    if end is None:
        assert all(phase_of(status) not in ENDS for status in statuses)
    else:
        last = len(statuses) - 1 - statuses[::-1].index(end)
        assert phase_of(end) in ENDS
        assert all(phase_of(status) not in ENDS for status in statuses[last + 1 :])
