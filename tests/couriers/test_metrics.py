"""The web process serves Prometheus metrics, the fleet's included."""

import pytest

from couriers.services import order_event_handle

pytestmark = pytest.mark.django_db


def test_metrics_show_the_fleet(client, orders, make_courier):
    make_courier()
    make_courier()
    orders.set("a", "cooking")
    orders.set("b", "cooking")
    orders.set("c", "cooking")
    for order_id in "abc":
        order_event_handle(order_id=order_id, event_status="created", client=orders)

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    body = response.content.decode()
    assert 'courier_couriers{status="busy"} 2.0' in body
    assert 'courier_couriers{status="available"} 0.0' in body
    assert "courier_deliveries_waiting 1.0" in body
    assert "courier_deliveries_overdue 0.0" in body


def test_metrics_take_no_writes(client):
    assert client.post("/metrics").status_code == 405
