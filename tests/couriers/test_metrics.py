"""The web process serves Prometheus metrics, the fleet's included."""

import ipaddress
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from couriers.models import OutboxEvent
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
    order_event_handle(order_id="a", event_status="completed", client=orders)  # service-order still says cooking
    orders.set("d", "cooking")
    # First news of d is its end, contradicted: it waits disputed, outside the queue the waiting count counts.
    order_event_handle(order_id="d", event_status="completed", client=orders)

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    body = response.content.decode()
    assert 'courier_couriers{status="busy"} 2.0' in body
    assert 'courier_couriers{status="available"} 0.0' in body
    assert "courier_deliveries_waiting 1.0" in body
    assert "courier_deliveries_overdue 0.0" in body
    assert "courier_deliveries_disputed 2.0" in body


def test_metrics_show_the_outbox_waiting_and_its_oldest_age(client, orders, make_courier):
    body = client.get("/metrics").content.decode()
    assert "courier_outbox_waiting 0.0" in body
    assert "courier_outbox_oldest_seconds 0.0" in body

    make_courier()
    orders.set("a", "cooking")
    order_event_handle(order_id="a", event_status="created", client=orders)
    OutboxEvent.objects.update(created_at=timezone.now() - timedelta(minutes=5))

    body = client.get("/metrics").content.decode()
    assert "courier_outbox_waiting 1.0" in body
    oldest = float(re.search(r"^courier_outbox_oldest_seconds (\S+)$", body, re.MULTILINE).group(1))
    assert 300 <= oldest < 3600


def test_metrics_take_no_writes(client):
    assert client.post("/metrics").status_code == 405


ELSEWHERE = "10.20.30.40"  # not in the default allow-list (loopback)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_metrics_answer_loopback_by_default(client, address):
    assert client.get("/metrics", REMOTE_ADDR=address).status_code == 200


def test_metrics_refuse_other_addresses_by_default(client):
    response = client.get("/metrics", REMOTE_ADDR=ELSEWHERE)

    assert response.status_code == 403
    assert b"courier_" not in response.content


def test_metrics_answer_an_allowed_network(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.20.0.0/16")]

    assert client.get("/metrics", REMOTE_ADDR=ELSEWHERE).status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


@pytest.mark.parametrize(("sent", "status"), [("Bearer s3cret-token", 200), ("Bearer wrong", 403), ("", 403)])
def test_metrics_answer_the_token_from_anywhere(client, settings, sent, status):
    settings.METRICS_TOKEN = "s3cret-token"

    assert client.get("/metrics", REMOTE_ADDR=ELSEWHERE, HTTP_AUTHORIZATION=sent).status_code == status
