"""The consistency check: deliveries and couriers against service-order's truth."""

import itertools

import pytest
from django.utils import timezone

from couriers.models import Courier, Delivery, OrderKnowledge
from sandbox.verify import NEVER_EXISTED, Mismatch, verify

pytestmark = pytest.mark.django_db

_phones = itertools.count(20_000_000_000)


def courier(status: str = Courier.Status.AVAILABLE) -> Courier:
    return Courier.objects.create(name="C", phone=f"+{next(_phones)}", transport_type="car", status=status)


def delivery(order_id: str, status: str, courier: Courier | None = None) -> Delivery:
    known = OrderKnowledge.objects.create(order_id=order_id, read_status="x", read_at=timezone.now())
    return Delivery.objects.create(order=known, status=status, courier=courier)


def test_every_phase_in_its_right_state_is_consistent():
    delivery("active-assigned", "assigned", courier(Courier.Status.BUSY))
    delivery("active-waiting", "awaiting_courier")
    delivery("done", "completed", courier(Courier.Status.PAUSED))  # paused: no courier idles next to the wait
    delivery("gone", "cancelled")
    truth = {
        "active-assigned": "delivering",
        "active-waiting": "updated",
        "done": "completed",
        "done-never-seen": "completed",
        "gone": "canceled",
        "deleted-never-seen": "deleted",
    }

    report = verify(truth)

    assert report.ok
    assert (report.checked, report.consistent) == (6, 6)
    assert report.summary() == "6 of 6 orders consistent"


def test_each_kind_of_disagreement_is_reported():
    delivery("finished-but-open", "assigned", courier(Courier.Status.BUSY))
    delivery("cancelled-but-completed", "completed")
    delivery("stranger", "awaiting_courier")
    delivery("recorded-stranger", "cancelled")  # its not-found, recorded: consistent
    truth = {
        "active-without-delivery": "cooking",
        "finished-but-open": "completed",
        "cancelled-but-completed": "deleted",
        "unknown-status": "teleported",
    }

    report = verify(truth, foreign_ids=["stranger", "clean-stranger", "recorded-stranger"])

    assert not report.ok
    assert report.summary() == "2 of 7 orders consistent"
    assert set(report.mismatches) == {
        Mismatch("active-without-delivery", "cooking", None),
        Mismatch("finished-but-open", "completed", "assigned"),
        Mismatch("cancelled-but-completed", "deleted", "completed"),
        Mismatch("unknown-status", "teleported", None),
        Mismatch("stranger", NEVER_EXISTED, "awaiting_courier"),
    }


def test_couriers_must_match_their_assigned_deliveries():
    busy_idle = courier(Courier.Status.BUSY)
    available_with_one = courier(Courier.Status.AVAILABLE)
    paused_with_one = courier(Courier.Status.PAUSED)
    fine = courier(Courier.Status.BUSY)
    delivery("a", "assigned", available_with_one)
    delivery("b", "assigned", paused_with_one)
    delivery("c", "assigned", fine)

    report = verify({"a": "cooking", "b": "cooking", "c": "cooking"})

    assert report.consistent == 3
    assert not report.ok
    assert report.courier_problems == [
        f"courier {busy_idle.pk} is busy without an assigned delivery",
        f"courier {available_with_one.pk} is available but holds an assigned delivery",
        f"courier {paused_with_one.pk} is paused but holds an assigned delivery",
    ]
    assert report.summary() == "3 of 3 orders consistent; 3 courier problems"


def test_a_courier_available_while_a_delivery_awaits_one_is_a_problem():
    idle = courier(Courier.Status.AVAILABLE)
    courier(Courier.Status.PAUSED)
    delivery("a", "awaiting_courier")
    delivery("b", "awaiting_courier")

    report = verify({"a": "cooking", "b": "cooking"})

    assert report.consistent == 2
    assert report.courier_problems == [f"courier {idle.pk} is available while 2 deliveries await a courier"]
    assert not report.ok


def test_an_available_courier_with_no_one_waiting_is_fine():
    courier(Courier.Status.AVAILABLE)
    delivery("a", "completed")

    assert verify({"a": "completed"}).ok
