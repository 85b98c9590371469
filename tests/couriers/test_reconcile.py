"""The reconcile sweep repairs what lost and early events left behind."""

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from couriers.models import Courier, Delivery
from couriers.selectors import delivery_due_for_check
from couriers.services import Outcome, deliveries_reconcile, order_event_handle
from gateway.http import HttpOrderClient
from gateway.orders import OrderRequestRejected, OrderServiceUnavailable
from tests.fakes import FakeOrderClient
from tests.gateway.scripted_service import Answer, scripted_service

pytestmark = pytest.mark.django_db


def age_checks(seconds: int) -> None:
    Delivery.objects.update(order_checked_at=timezone.now() - timedelta(seconds=seconds))


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


def test_an_outage_stops_the_sweep_and_keeps_it_due(orders, make_courier):
    make_courier()
    orders.set("a", "cooking")
    order_event_handle(order_id="a", event_status="created", client=orders)
    age_checks(600)
    before = Delivery.objects.get(order_id="a").order_checked_at
    orders.fail("a", OrderServiceUnavailable("down"))

    assert deliveries_reconcile(older_than=timedelta(seconds=300), client=orders) == {}
    assert Delivery.objects.get(order_id="a").order_checked_at == before


def test_a_claimed_delivery_is_not_checked_twice(orders, make_courier, monkeypatch):
    make_courier()
    orders.set("a", "cooking")
    order_event_handle(order_id="a", event_status="created", client=orders)
    age_checks(600)
    # This copy of the sweep listed the delivery; another copy claimed it before this one could.
    due = delivery_due_for_check(older_than=timedelta(seconds=300), limit=10)
    Delivery.objects.update(order_checked_at=timezone.now())
    monkeypatch.setattr("couriers.services.reconcile.delivery_due_for_check", lambda **_: due)
    orders.calls.clear()

    assert deliveries_reconcile(older_than=timedelta(seconds=300), client=orders) == {}
    assert orders.calls == []


def test_an_overdue_delivery_is_reported_by_the_copy_that_claimed_it_only(orders, make_courier, monkeypatch, caplog):
    make_courier()
    orders.set("a", "delivering")
    order_event_handle(order_id="a", event_status="created", client=orders)
    Delivery.objects.update(deadline=timezone.now() - timedelta(minutes=1))
    # This copy listed the overdue delivery; another copy claimed it first (and reports it).
    due = delivery_due_for_check(older_than=timedelta(hours=1), limit=10)
    Delivery.objects.update(order_checked_at=timezone.now())
    monkeypatch.setattr("couriers.services.reconcile.delivery_due_for_check", lambda **_: due)

    deliveries_reconcile(older_than=timedelta(hours=1), client=orders)

    assert not [record for record in caplog.records if "overdue" in record.getMessage()]


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

    assert deliveries_reconcile(older_than=timedelta(seconds=300), client=orders) == {Outcome.COMPLETED: 1}
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
