"""The reconcile sweep repairs what lost and early events left behind."""

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from couriers import metrics
from couriers.models import Courier, Delivery, OrderKnowledge
from couriers.selectors import delivery_due_for_check
from couriers.services import Outcome, deliveries_reconcile, order_event_handle
from gateway.http import HttpOrderClient
from gateway.orders import PROBE_ORDER_ID, OrderRequestRejected, OrderServiceUnavailable
from tests.fakes import FakeOrderClient
from tests.gateway.scripted_service import Answer, scripted_service

pytestmark = pytest.mark.django_db


def age_checks(seconds: int) -> None:
    OrderKnowledge.objects.update(read_at=timezone.now() - timedelta(seconds=seconds))


def failures() -> float:
    return metrics.RECONCILE_FAILURES._value.get()


def start(orders: FakeOrderClient, *order_ids: str) -> None:
    """Deliveries for these orders, cooking, in this order."""
    for order_id in order_ids:
        orders.set(order_id, "cooking")
        order_event_handle(order_id=order_id, event_status="created", client=orders)


class DownOrders(FakeOrderClient):
    """service-order in an outage: every call fails, the probe's too."""

    def get_order(self, order_id: str):
        self.calls.append(order_id)
        raise OrderServiceUnavailable("connection refused")


def test_lost_final_events_are_repaired(orders, make_courier):
    courier = make_courier()
    for order_id in ("a", "b", "c"):
        orders.set(order_id, "cooking")
        order_event_handle(order_id=order_id, event_status="created", client=orders)
    # Their completion, cancellation and deletion events were lost.
    orders.set("a", "completed")
    orders.set("b", "canceled")
    del orders.statuses["c"]
    age_checks(600)

    outcomes = deliveries_reconcile(older_than=timedelta(seconds=300), client=orders)

    assert dict(Delivery.objects.values_list("order_id", "status")) == {
        "a": "completed",
        "b": "cancelled",
        "c": "cancelled",
    }
    assert outcomes[Outcome.COMPLETED] == 1
    assert outcomes[Outcome.CANCELLED] >= 1
    courier.refresh_from_db()
    assert courier.status == "available"


def test_recently_checked_deliveries_are_left_alone(orders, make_courier):
    make_courier()
    orders.set("a", "cooking")
    order_event_handle(order_id="a", event_status="created", client=orders)
    orders.calls.clear()

    assert deliveries_reconcile(older_than=timedelta(seconds=300), client=orders) == {}
    assert orders.calls == []


def test_zero_means_every_open_delivery(orders, make_courier):
    make_courier()
    orders.set("a", "cooking")
    order_event_handle(order_id="a", event_status="created", client=orders)
    orders.calls.clear()

    assert deliveries_reconcile(older_than=timedelta(0), client=orders) == {Outcome.UNCHANGED: 1}
    assert orders.calls == ["a"]


def test_overdue_deliveries_are_checked_and_reported_not_released(orders, make_courier, caplog):
    make_courier()
    orders.set("a", "delivering")
    order_event_handle(order_id="a", event_status="created", client=orders)
    Delivery.objects.update(deadline=timezone.now() - timedelta(minutes=1))
    orders.calls.clear()

    deliveries_reconcile(older_than=timedelta(hours=1), client=orders)

    assert orders.calls == ["a"]
    assert Delivery.objects.get(order_id="a").status == "assigned"
    assert any("overdue" in record.getMessage() and "a" in record.getMessage() for record in caplog.records)


def test_waiting_orders_get_a_courier_that_appeared_meanwhile(orders):
    orders.set("a", "cooking")
    order_event_handle(order_id="a", event_status="created", client=orders)
    assert Delivery.objects.get(order_id="a").status == "awaiting_courier"
    # A courier appears without the hand-off a service would have done (an import, a lost wake-up).
    courier = Courier.objects.create(name="Late", phone="+4915100000001", transport_type="car", status="available")
    age_checks(600)

    outcomes = deliveries_reconcile(older_than=timedelta(seconds=300), client=orders)

    assert outcomes == {Outcome.ASSIGNED: 1}
    delivery = Delivery.objects.get(order_id="a")
    assert (delivery.status, delivery.courier_id) == ("assigned", courier.pk)


def test_a_waiting_order_cancelled_meanwhile_is_cancelled(orders):
    orders.set("a", "cooking")
    order_event_handle(order_id="a", event_status="created", client=orders)
    orders.set("a", "canceled")  # cancelled while waiting; the event was lost
    age_checks(600)

    deliveries_reconcile(older_than=timedelta(seconds=300), client=orders)

    assert Delivery.objects.get(order_id="a").status == "cancelled"


def test_a_sweep_told_to_stop_leaves_the_rest_due(orders, make_courier):
    make_courier()
    for order_id in "abcde":
        orders.set(order_id, "cooking")
        order_event_handle(order_id=order_id, event_status="created", client=orders)
    age_checks(600)
    orders.calls.clear()

    deliveries_reconcile(older_than=timedelta(seconds=300), client=orders, stop_when=lambda: len(orders.calls) == 2)

    assert len(orders.calls) == 2
    assert len(delivery_due_for_check(older_than=timedelta(seconds=300), limit=10)) == 3


def test_one_order_failing_while_service_order_answers_is_passed_over_and_goes_to_the_back(orders, make_courier):
    make_courier()
    start(orders, "a", "b", "c", "d")
    age_checks(600)
    orders.fail("a", OrderServiceUnavailable("503 for this order alone"))
    orders.set("b", "completed")
    orders.set("c", "canceled")
    orders.calls.clear()
    failed_before = failures()

    # `a` stands at the head of the run; `d` is left for the next run by the limit.
    outcomes = deliveries_reconcile(older_than=timedelta(seconds=300), client=orders, limit=3)

    assert orders.calls == ["a", PROBE_ORDER_ID, "b", "c"], "probed, answered: the sweep went on"
    assert outcomes == {Outcome.COMPLETED: 1, Outcome.CANCELLED: 1}
    assert failures() == failed_before + 1
    assert dict(Delivery.objects.values_list("order_id", "status")) == {
        "a": "assigned",
        "b": "completed",
        "c": "cancelled",
        "d": "awaiting_courier",
    }
    # Next run: `a` answers again, behind the order never swept (every open one is due at 0).
    del orders.errors["a"]
    orders.calls.clear()

    deliveries_reconcile(older_than=timedelta(0), client=orders)

    assert orders.calls == ["d", "a"]


def test_an_outage_stops_the_sweep_and_leaves_the_orders_due(make_courier, caplog):
    make_courier()
    start(FakeOrderClient(), "a", "b")
    age_checks(600)
    orders = DownOrders()
    failed_before = failures()

    assert deliveries_reconcile(older_than=timedelta(seconds=300), client=orders) == {}

    assert orders.calls == ["a", PROBE_ORDER_ID], "stopped at the probe's failure: `b` never asked"
    assert failures() == failed_before, "an outage is no order's failure"
    assert "reconcile stopped: service-order unavailable" in caplog.text
    assert list(OrderKnowledge.objects.values_list("swept_at", flat=True)) == [None, None], "unclaimed"
    assert delivery_due_for_check(older_than=timedelta(seconds=300), limit=10) == ["a", "b"]


class AnotherCopyClaims(FakeOrderClient):
    """While this copy of the sweep asks for an order, another copy claims one this copy listed (`claims`)."""

    def __init__(self) -> None:
        super().__init__()
        self.claims: dict[str, str] = {}  # order asked -> order another copy claims meanwhile

    def get_order(self, order_id: str):
        if taken := self.claims.get(order_id):
            OrderKnowledge.objects.filter(order_id=taken).update(swept_at=timezone.now())
        return super().get_order(order_id)


def test_a_delivery_claimed_by_another_copy_meanwhile_is_not_checked_twice(make_courier):
    make_courier()
    orders = AnotherCopyClaims()
    start(orders, "a", "b")
    age_checks(600)
    orders.calls.clear()
    orders.claims = {"a": "b"}

    assert deliveries_reconcile(older_than=timedelta(seconds=300), client=orders) == {Outcome.UNCHANGED: 1}
    assert orders.calls == ["a"]


def test_an_overdue_delivery_is_reported_by_the_copy_that_claimed_it_only(make_courier, caplog):
    make_courier()
    make_courier()
    orders = AnotherCopyClaims()
    start(orders, "a", "b")
    Delivery.objects.update(deadline=timezone.now() - timedelta(minutes=1))
    orders.calls.clear()
    orders.claims = {"a": "b"}  # the other copy checks `b`, and reports it

    deliveries_reconcile(older_than=timedelta(hours=1), client=orders)

    assert orders.calls == ["a"]
    assert [record.order_id for record in caplog.records if "overdue" in record.getMessage()] == ["a"]


def test_the_command_prints_a_summary(orders, make_courier, monkeypatch, capsys):
    make_courier()
    orders.set("a", "cooking")
    order_event_handle(order_id="a", event_status="created", client=orders)
    orders.set("a", "completed")
    monkeypatch.setattr("couriers.management.commands.reconcile_deliveries.default_order_client", lambda: orders)

    call_command("reconcile_deliveries", "--older-than", "0")

    assert "completed 1" in capsys.readouterr().out
    assert Delivery.objects.get(order_id="a").status == "completed"


def test_a_rejected_order_id_is_skipped_and_the_sweep_goes_on(orders, make_courier):
    make_courier()
    for order_id in ("bad", "good"):
        orders.set(order_id, "cooking")
        order_event_handle(order_id=order_id, event_status="created", client=orders)
    orders.fail("bad", OrderRequestRejected("400 from service-order"))
    orders.set("good", "completed")
    age_checks(600)
    failed_before = failures()

    assert deliveries_reconcile(older_than=timedelta(seconds=300), client=orders) == {Outcome.COMPLETED: 1}
    assert failures() == failed_before + 1
    assert Delivery.objects.get(order_id="good").status == "completed"
    assert Delivery.objects.get(order_id="bad").status in Delivery.OPEN


def test_a_404_that_is_not_service_orders_cancels_nothing(make_courier, settings):
    # A wrong ORDER_SERVICE_PATH: every order's URL answers the router's 404, not service-order's.
    make_courier()
    orders = FakeOrderClient()
    for order_id in ("a", "b"):
        orders.set(order_id, "cooking")
        order_event_handle(order_id=order_id, event_status="created", client=orders)
    age_checks(600)

    with scripted_service() as service:
        service.answer(Answer(404, raw=b"404 page not found", headers={"Content-Type": "text/plain"}))
        settings.ORDER_SERVICE_URL = service.url
        outcomes = deliveries_reconcile(older_than=timedelta(0), client=HttpOrderClient.from_settings(retries=0))

    assert service.paths  # the router's 404 was what answered: service-order counts as down after the first
    assert outcomes == {}
    assert dict(Delivery.objects.values_list("order_id", "status")) == {"a": "assigned", "b": "awaiting_courier"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_sweep_holds_no_connection_while_it_asks_service_order(pool_of_one, make_courier):
    # With one pooled connection, anybody else's query while the sweep waits on service-order needs it.
    class Busy(FakeOrderClient):
        seen: list[int] | None = None  # a list: each call has another thread query the database

        def get_order(self, order_id):
            if self.seen is not None:
                elsewhere = threading.Thread(target=self.query_elsewhere)
                elsewhere.start()
                elsewhere.join()
            return super().get_order(order_id)

        def query_elsewhere(self) -> None:
            try:
                self.seen.append(Delivery.objects.count())
            finally:
                connection.close()

    orders = Busy()
    make_courier()
    orders.set("a", "cooking")
    order_event_handle(order_id="a", event_status="created", client=orders)
    age_checks(600)
    orders.seen = []

    outcomes = deliveries_reconcile(older_than=timedelta(seconds=300), client=orders)

    assert orders.seen == [1]
    assert outcomes == {Outcome.UNCHANGED: 1}
