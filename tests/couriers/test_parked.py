"""Parked orders (couriers.services.parked): set aside, counted per order, taken in turn, given up, settled."""

import dataclasses
from datetime import timedelta

import pytest
from django.utils import timezone

from couriers.models import OrderFailure
from couriers.services import (
    ParkedEvent,
    ParkingRules,
    order_park,
    order_parked_settle,
    orders_given_up_forget,
    orders_parked,
    orders_parked_take,
    orders_parked_waiting,
)
from couriers.services import parked as parked_service

pytestmark = pytest.mark.django_db

RULES = ParkingRules(max_attempts=3, retry_in=lambda attempts: 10.0 * attempts, give_up_window=timedelta(hours=1))
LEASE = timedelta(minutes=5)


def event(partition: int, offset: int, status: str = "created") -> ParkedEvent:
    return ParkedEvent("orders", partition, offset, status, f'{{"order_id": "o", "status": "{status}"}}'.encode())


def due_now() -> None:
    OrderFailure.objects.update(retry_at=timezone.now())


def test_attempts_are_counted_per_order_whatever_the_partition_and_given_up_at_the_limit():
    first = order_park(order_id="o", events=[event(0, 1)], error="BadOrderAnswer: garbage", rules=RULES)
    second = order_park(order_id="o", events=[event(3, 9)], error="ReadTimeout", rules=RULES)
    assert (first.attempts, first.given_up, second.attempts, second.given_up) == (1, False, 2, False)

    third = order_park(order_id="o", events=[event(0, 1)], error="ReadTimeout", rules=RULES)

    assert (third.attempts, third.given_up, third.last_error) == (3, True, "ReadTimeout")
    assert [e.origin for e in third.events] == [("orders", 0, 1), ("orders", 3, 9)], "each event once"
    assert orders_parked(order_ids=["o", "other"], rules=RULES) == {"o": True}


def test_an_order_is_due_after_its_backoff_and_its_events_that_join_keep_its_turn():
    before = timezone.now()
    order_park(order_id="o", events=[event(0, 1)], error="x", rules=RULES)
    retry_at = OrderFailure.objects.get().retry_at
    assert retry_at >= before + timedelta(seconds=10)

    joined = order_park(order_id="o", events=[event(1, 4, "cooking")], error=None, rules=RULES)

    assert (joined.attempts, len(joined.events)) == (1, 2)
    assert OrderFailure.objects.get().retry_at == retry_at
    assert orders_parked_take(limit=10, lease=LEASE) == []
    assert orders_parked(order_ids=["o"], rules=RULES) == {"o": False}


def test_events_join_only_an_order_set_aside():
    assert order_park(order_id="o", events=[event(0, 1)], error=None, rules=RULES) is None
    assert not OrderFailure.objects.exists()


def test_a_due_order_is_taken_by_one_consumer_only_until_its_lease_ends():
    order_park(order_id="o", events=[event(0, 1)], error="x", rules=RULES)
    due_now()

    [taken] = orders_parked_take(limit=10, lease=LEASE)

    assert (taken.order_id, [e.status for e in taken.events]) == ("o", ["created"])
    assert orders_parked_take(limit=10, lease=LEASE) == []
    OrderFailure.objects.update(retry_at=timezone.now() - timedelta(seconds=1))  # the lease ran out
    assert len(orders_parked_take(limit=10, lease=LEASE)) == 1


def test_settled_events_leave_and_events_that_joined_meanwhile_are_due_at_once():
    order_park(order_id="o", events=[event(0, 1)], error="x", rules=RULES)
    order_park(order_id="o", events=[event(2, 5, "cancelled")], error=None, rules=RULES)

    order_parked_settle(order_id="o", origins={("orders", 0, 1)})

    [left] = orders_parked_take(limit=10, lease=LEASE)
    assert [e.status for e in left.events] == ["cancelled"]
    order_parked_settle(order_id="o", origins={("orders", 2, 5)})
    assert not OrderFailure.objects.exists()
    assert not orders_parked_waiting()


def test_a_given_up_order_stays_for_the_window_without_events_then_starts_a_new_round():
    rules = ParkingRules(max_attempts=1, retry_in=RULES.retry_in, give_up_window=timedelta(hours=1))
    given_up = order_park(order_id="o", events=[event(0, 1)], error="x", rules=rules)
    assert orders_parked_waiting(), "its events still to dead-letter"
    order_parked_settle(order_id="o", origins={e.origin for e in given_up.events})
    assert not orders_parked_waiting()
    assert orders_parked(order_ids=["o"], rules=rules) == {"o": True}

    OrderFailure.objects.update(given_up_at=timezone.now() - timedelta(hours=2))

    assert orders_parked(order_ids=["o"], rules=rules) == {}
    again = order_park(order_id="o", events=[event(0, 8)], error="y", rules=RULES)
    assert (again.attempts, again.given_up) == (1, False)


def test_forgetting_a_given_up_order_leaves_the_waiting_ones():
    order_park(order_id="given-up", events=[event(0, 1)], error="x", rules=dataclasses.replace(RULES, max_attempts=1))
    order_park(order_id="waiting", events=[event(0, 2)], error="x", rules=RULES)

    orders_given_up_forget(order_ids=["given-up", "waiting"])

    assert list(OrderFailure.objects.values_list("order_id", flat=True)) == ["waiting"]


def test_an_order_counted_before_orders_were_set_aside_takes_its_events_at_once():
    OrderFailure.objects.create(order_id="o", attempts=1, last_error="x")  # as migration 0006 leaves one

    order_park(order_id="o", events=[event(0, 1)], error=None, rules=RULES)

    [taken] = orders_parked_take(limit=10, lease=LEASE)
    assert (taken.order_id, taken.attempts) == ("o", 1)


def test_two_consumers_setting_an_order_aside_at_once_both_count(monkeypatch):
    order_park(order_id="o", events=[event(0, 1)], error="BadOrderAnswer: garbage", rules=RULES)
    looked_up = []
    real_lookup = parked_service._locked_row

    def raced(order_id):
        looked_up.append(order_id)
        # The first look finds nothing: the other consumer's row was not committed yet when it looked.
        return None if len(looked_up) == 1 else real_lookup(order_id)

    monkeypatch.setattr(parked_service, "_locked_row", raced)
    second = order_park(order_id="o", events=[event(3, 9)], error="ReadTimeout", rules=RULES)

    assert looked_up == ["o", "o"], "the insert failed on the other's row, and the second try joined it"
    assert second.attempts == 2
    assert {(e.partition, e.offset) for e in second.events} == {(0, 1), (3, 9)}
