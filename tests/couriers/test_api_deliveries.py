"""/api/v1/deliveries/ and /api/v1/orders/{order_id}/delivery/: reads, filters, assign and unassign."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from couriers.models import Courier, Delivery
from gateway.orders import BadOrderAnswer, OrderRequestRejected, OrderServiceUnavailable
from tests.couriers.factories import create_courier, create_delivery
from tests.fakes import FakeOrderClient

pytestmark = pytest.mark.django_db

LIST = "/api/v1/deliveries/"
ASSIGN = "/api/v1/deliveries/assign/"
UNASSIGN = "/api/v1/deliveries/unassign/"

FIELDS = {
    "id",
    "order_id",
    "courier",
    "status",
    "order_status",
    "order_checked_at",
    "assigned_at",
    "deadline",
    "finished_at",
    "created_at",
    "updated_at",
}


def ids(response) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


def order_url(order_id: str) -> str:
    return f"/api/v1/orders/{order_id}/delivery/"


# --- list and detail ------------------------------------------------------------


def test_list_is_paginated_newest_first(reader: APIClient) -> None:
    older = create_delivery()
    newer = create_delivery(courier=create_courier())

    body = reader.get(LIST).json()

    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [newer.pk, older.pk]
    assert set(body["results"][0]) == FIELDS
    assert body["results"][0]["courier"] == newer.courier_id


def test_list_costs_the_same_few_queries_for_many_deliveries(reader: APIClient, django_assert_max_num_queries) -> None:
    for _ in range(50):
        create_delivery(courier=create_courier())

    with django_assert_max_num_queries(4):
        response = reader.get(LIST, {"page_size": 100})

    assert len(response.json()["results"]) == 50


def test_filter_by_status(reader: APIClient) -> None:
    waiting = create_delivery()
    create_delivery(courier=create_courier())

    assert ids(reader.get(LIST, {"status": "awaiting_courier"})) == [waiting.pk]


def test_filter_by_courier(reader: APIClient) -> None:
    courier = create_courier()
    mine = create_delivery(courier=courier)
    create_delivery(courier=create_courier())

    assert ids(reader.get(LIST, {"courier": courier.pk})) == [mine.pk]
    assert ids(reader.get(LIST, {"courier": 999999})) == []


def test_filter_by_order_id(reader: APIClient) -> None:
    wanted = create_delivery(order_id="A-1")
    create_delivery(order_id="A-10")

    assert ids(reader.get(LIST, {"order_id": "A-1"})) == [wanted.pk]


def test_filter_overdue(reader: APIClient) -> None:
    past = timezone.now() - timedelta(minutes=1)
    overdue = create_delivery(courier=create_courier(), deadline=past)
    in_time = create_delivery(courier=create_courier())
    finished_late = create_delivery(courier=create_courier(), status=Delivery.Status.COMPLETED, deadline=past)

    assert ids(reader.get(LIST, {"overdue": "true"})) == [overdue.pk]
    assert set(ids(reader.get(LIST, {"overdue": "false"}))) == {in_time.pk, finished_late.pk}


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("status", "lost"),
        ("courier", "abc"),
        ("courier", "1.5"),
        ("courier", "-3"),
        ("courier", "9" * 30),
        ("overdue", "maybe"),
        ("order_id", "a\x00b"),
        ("order_id", "x" * 300),
    ],
)
def test_an_invalid_filter_value_is_400_naming_it(reader: APIClient, param: str, value: str) -> None:
    response = reader.get(LIST, {param: value})

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {param}


def test_ordering_by_deadline(reader: APIClient) -> None:
    now = timezone.now()
    late = create_delivery(courier=create_courier(), deadline=now + timedelta(minutes=30))
    soon = create_delivery(courier=create_courier(), deadline=now + timedelta(minutes=5))

    assert ids(reader.get(LIST, {"ordering": "deadline"})) == [soon.pk, late.pk]


def test_detail(reader: APIClient) -> None:
    delivery = create_delivery(order_id="A-1")

    response = reader.get(f"{LIST}{delivery.pk}/")

    assert response.status_code == 200
    assert response.json()["order_id"] == "A-1"


@pytest.mark.parametrize("path", ["999999/", "abc/", "1.5/"])
def test_detail_of_an_unknown_or_malformed_id_is_404(reader: APIClient, path: str) -> None:
    response = reader.get(LIST + path)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- the delivery of an order ---------------------------------------------------


@pytest.mark.parametrize("order_id", ["A-1", "a/b/c", "заказ 7", "with%20space", "x" * 255, "..x"])
def test_the_delivery_of_an_order(reader: APIClient, order_id: str) -> None:
    delivery = create_delivery(order_id=order_id.replace("%20", " "))

    response = reader.get(order_url(order_id))

    assert response.status_code == 200
    assert response.json()["id"] == delivery.pk


@pytest.mark.parametrize("order_id", ["unknown", "../x", "..", "%00", "a%00b", "x" * 256, "x" * 300, "%ff%fe", "'; --"])
def test_an_order_without_delivery_or_a_hostile_id_is_404(reader: APIClient, order_id: str) -> None:
    create_delivery(order_id="x")

    response = reader.get(order_url(order_id))

    assert response.status_code == 404
    assert response.json()["error"]["code"] in {"delivery_not_found", "not_found"}


# --- assign and unassign --------------------------------------------------------


def test_assign_gives_an_active_order_a_courier(dispatcher: APIClient, fake_orders: FakeOrderClient) -> None:
    courier = create_courier()
    fake_orders.set("A-1", "cooking")

    response = dispatcher.post(ASSIGN, {"order_id": "A-1"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["order_id"], body["status"], body["courier"]) == ("A-1", "assigned", courier.pk)
    assert fake_orders.calls == ["A-1"]


def test_assign_without_a_free_courier_leaves_the_order_waiting(
    dispatcher: APIClient, fake_orders: FakeOrderClient
) -> None:
    fake_orders.set("A-1", "created")

    body = dispatcher.post(ASSIGN, {"order_id": "A-1"}, format="json").json()

    assert (body["status"], body["courier"]) == ("awaiting_courier", None)


def test_assign_reopens_a_cancelled_delivery(dispatcher: APIClient, fake_orders: FakeOrderClient) -> None:
    create_delivery(order_id="A-1", status=Delivery.Status.CANCELLED)
    courier = create_courier()
    fake_orders.set("A-1", "cooking")

    body = dispatcher.post(ASSIGN, {"order_id": "A-1"}, format="json").json()

    assert (body["status"], body["courier"]) == ("assigned", courier.pk)


@pytest.mark.parametrize("order_status", ["completed", "canceled"])
def test_assign_of_an_order_that_is_not_active_is_409_naming_its_status(
    dispatcher: APIClient, fake_orders: FakeOrderClient, order_status: str
) -> None:
    create_courier()
    fake_orders.set("A-1", order_status)

    response = dispatcher.post(ASSIGN, {"order_id": "A-1"}, format="json")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "order_not_active"
    assert order_status in error["message"]
    assert not Delivery.objects.exists()


def test_assign_of_an_order_unknown_to_service_order_is_404(
    dispatcher: APIClient, fake_orders: FakeOrderClient
) -> None:
    response = dispatcher.post(ASSIGN, {"order_id": "nope"}, format="json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "order_not_found"


@pytest.mark.parametrize(
    ("failure", "status_code", "code"),
    [
        (OrderServiceUnavailable("down, see http://internal:8083"), 503, "order_service_unavailable"),
        (BadOrderAnswer("html"), 502, "bad_order_answer"),
        (OrderRequestRejected("400"), 400, "order_request_rejected"),
    ],
)
def test_assign_when_service_order_fails(
    dispatcher: APIClient, fake_orders: FakeOrderClient, failure: Exception, status_code: int, code: str
) -> None:
    fake_orders.fail("A-1", failure)

    response = dispatcher.post(ASSIGN, {"order_id": "A-1"}, format="json")

    assert response.status_code == status_code
    error = response.json()["error"]
    assert error["code"] == code
    assert "internal" not in error["message"]  # the gateway's details stay in the log
    assert not Delivery.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "order_id"),
        ({"order_id": ""}, "order_id"),
        ({"order_id": "x" * 256}, "order_id"),
        ({"order_id": "a\x00b"}, "order_id"),
        ({"order_id": ["A-1"]}, "order_id"),
        ({"order_id": None}, "order_id"),
        ({"order_id": "A-1", "courier": 1}, "courier"),
    ],
)
@pytest.mark.parametrize("url", [ASSIGN, UNASSIGN])
def test_assign_and_unassign_reject_invalid_bodies_naming_the_field(
    dispatcher: APIClient, fake_orders: FakeOrderClient, url: str, body: dict, field: str
) -> None:
    response = dispatcher.post(url, body, format="json")

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {field}
    assert fake_orders.calls == []


def test_unassign_cancels_and_the_courier_takes_the_oldest_waiting_order(dispatcher: APIClient) -> None:
    courier = create_courier()
    create_delivery(order_id="A-1", courier=courier)
    oldest = create_delivery(order_id="B-1")
    create_delivery(order_id="B-2")

    response = dispatcher.post(UNASSIGN, {"order_id": "A-1"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    oldest.refresh_from_db()
    assert (oldest.status, oldest.courier_id) == ("assigned", courier.pk)
    assert Courier.objects.get(pk=courier.pk).status == "busy"


def test_unassign_of_a_waiting_order_cancels_it(dispatcher: APIClient) -> None:
    create_delivery(order_id="A-1")

    body = dispatcher.post(UNASSIGN, {"order_id": "A-1"}, format="json").json()

    assert (body["status"], body["courier"]) == ("cancelled", None)


def test_unassign_of_an_order_without_delivery_is_404(dispatcher: APIClient) -> None:
    response = dispatcher.post(UNASSIGN, {"order_id": "nope"}, format="json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "delivery_not_found"


def test_unassign_of_a_finished_delivery_is_409(dispatcher: APIClient) -> None:
    create_delivery(order_id="A-1", courier=create_courier(), status=Delivery.Status.COMPLETED)

    response = dispatcher.post(UNASSIGN, {"order_id": "A-1"}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "delivery_finished"
