"""ETag on a courier and a delivery; If-None-Match answers 304, If-Match refuses a stale write with 412."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from couriers.models import Courier, Delivery
from tests.couriers.factories import create_courier, create_delivery
from tokens.services import token_create

pytestmark = pytest.mark.django_db

WRITERS = 6


def courier_url(courier: Courier) -> str:
    return f"/api/v1/couriers/{courier.pk}/"


def test_a_courier_carries_an_etag_and_if_none_match_gives_304(reader: APIClient) -> None:
    courier = create_courier()
    etag = reader.get(courier_url(courier))["ETag"]

    response = reader.get(courier_url(courier), HTTP_IF_NONE_MATCH=etag)

    assert (response.status_code, response.content, response["ETag"]) == (304, b"", etag)


def test_the_etag_changes_with_the_courier(reader: APIClient) -> None:
    courier = create_courier(name="Ann")
    etag = reader.get(courier_url(courier))["ETag"]
    Courier.objects.filter(pk=courier.pk).update(name="Anna")

    response = reader.get(courier_url(courier), HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 200
    assert response.json()["name"] == "Anna"
    assert response["ETag"] != etag


def test_the_etag_changes_when_the_courier_gets_a_delivery(reader: APIClient) -> None:
    courier = create_courier()
    etag = reader.get(courier_url(courier))["ETag"]
    create_delivery(courier=courier)

    assert reader.get(courier_url(courier), HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_if_none_match_takes_a_list_weak_tags_and_star(reader: APIClient) -> None:
    courier = create_courier()
    etag = reader.get(courier_url(courier))["ETag"]

    for header in [f'"other", {etag}', f"W/{etag}", "*"]:
        assert reader.get(courier_url(courier), HTTP_IF_NONE_MATCH=header).status_code == 304


def test_a_patch_with_a_stale_if_match_is_412_and_changes_nothing(dispatcher: APIClient) -> None:
    courier = create_courier(name="Ann")
    stale = dispatcher.get(courier_url(courier))["ETag"]
    dispatcher.patch(courier_url(courier), {"name": "Anna"}, format="json", HTTP_IF_MATCH=stale)

    response = dispatcher.patch(courier_url(courier), {"name": "Annette"}, format="json", HTTP_IF_MATCH=stale)

    assert response.status_code == 412
    assert response.json()["error"]["code"] == "precondition_failed"
    courier.refresh_from_db()
    assert courier.name == "Anna"


def test_a_write_with_the_current_if_match_applies_and_answers_the_new_etag(dispatcher: APIClient) -> None:
    courier = create_courier(name="Ann")
    etag = dispatcher.get(courier_url(courier))["ETag"]

    response = dispatcher.put(
        courier_url(courier),
        {"name": "Anna", "phone": courier.phone, "transport_type": "car"},
        format="json",
        HTTP_IF_MATCH=etag,
    )

    assert response.status_code == 200
    assert response["ETag"] == dispatcher.get(courier_url(courier))["ETag"] != etag


def test_a_delete_with_a_stale_if_match_is_412(superuser: APIClient) -> None:
    courier = create_courier()

    response = superuser.delete(courier_url(courier), HTTP_IF_MATCH='"stale"')

    assert response.status_code == 412
    assert Courier.objects.filter(pk=courier.pk).exists()


def test_a_delete_with_the_current_if_match_deletes(superuser: APIClient) -> None:
    courier = create_courier()
    etag = superuser.get(courier_url(courier))["ETag"]

    assert superuser.delete(courier_url(courier), HTTP_IF_MATCH=etag).status_code == 204


def test_if_match_on_an_unknown_courier_is_still_404(dispatcher: APIClient) -> None:
    response = dispatcher.patch("/api/v1/couriers/999999/", {"name": "A"}, format="json", HTTP_IF_MATCH='"x"')

    assert response.status_code == 404


def test_a_delivery_and_an_orders_delivery_share_one_etag_and_answer_304(reader: APIClient) -> None:
    delivery = create_delivery(order_id="A-1")
    etag = reader.get(f"/api/v1/deliveries/{delivery.pk}/")["ETag"]

    assert reader.get("/api/v1/orders/A-1/delivery/")["ETag"] == etag
    assert reader.get(f"/api/v1/deliveries/{delivery.pk}/", HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert reader.get("/api/v1/orders/A-1/delivery/", HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_a_waiting_deliverys_etag_changes_when_the_queue_moves(reader: APIClient) -> None:
    first = create_delivery(order_id="A-1")
    create_delivery(order_id="A-2")
    etag = reader.get("/api/v1/orders/A-2/delivery/")["ETag"]
    Delivery.objects.filter(pk=first.pk).update(status=Delivery.Status.CANCELLED)

    response = reader.get("/api/v1/orders/A-2/delivery/", HTTP_IF_NONE_MATCH=etag)

    assert (response.status_code, response.json()["queue_position"]) == (200, 1)


@pytest.mark.parametrize("action", ["cancel", "unassign"])
def test_a_delivery_action_with_a_stale_if_match_is_412_and_changes_nothing(dispatcher: APIClient, action: str) -> None:
    delivery = create_delivery(order_id="A-1", courier=create_courier())

    response = dispatcher.post(
        f"/api/v1/deliveries/{action}/", {"order_id": "A-1"}, format="json", HTTP_IF_MATCH='"stale"'
    )

    assert response.status_code == 412
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.ASSIGNED


def test_a_cancel_with_the_current_if_match_cancels(dispatcher: APIClient) -> None:
    create_delivery(order_id="A-1", courier=create_courier())
    etag = dispatcher.get("/api/v1/orders/A-1/delivery/")["ETag"]

    response = dispatcher.post("/api/v1/deliveries/cancel/", {"order_id": "A-1"}, format="json", HTTP_IF_MATCH=etag)

    assert (response.status_code, response.json()["status"]) == (200, "cancelled")


@pytest.mark.django_db(transaction=True)
def test_of_concurrent_writes_based_on_one_etag_exactly_one_applies() -> None:
    """The If-Match check and the write hold the courier's row lock together (SQLite: one writer at a time)."""
    writer = User.objects.create_user("writer")
    writer.user_permissions.add(
        *Permission.objects.filter(codename__in=["change_courier", "view_courier"])
    )  # no group: flushed by now
    _, token = token_create(user=writer)
    courier = create_courier(name="Ann")
    etag = APIClient().get(courier_url(courier), HTTP_AUTHORIZATION=f"Token {token}")["ETag"]
    start = threading.Barrier(WRITERS)

    def write(n: int) -> int:
        client = APIClient()
        start.wait(timeout=30)
        try:
            response = client.patch(
                courier_url(courier),
                {"name": f"Writer {n}"},
                format="json",
                HTTP_AUTHORIZATION=f"Token {token}",
                HTTP_IF_MATCH=etag,
            )
            return response.status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(WRITERS) as pool:
        statuses = sorted(pool.map(write, range(WRITERS)))

    assert statuses == [200] + [412] * (WRITERS - 1)
    courier.refresh_from_db()
    assert courier.name.startswith("Writer ")


HEADER_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=HEADER_VALUES.filter(lambda value: "*" not in value))
def test_any_if_match_but_the_current_tag_is_refused(dispatcher: APIClient, header: str) -> None:
    courier = Courier.objects.first() or create_courier(name="Ann")

    response = dispatcher.patch(courier_url(courier), {"name": "Changed"}, format="json", HTTP_IF_MATCH=header)

    assert response.status_code == 412
    assert Courier.objects.get(pk=courier.pk).name == "Ann"


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=HEADER_VALUES.filter(lambda value: "*" not in value))
def test_any_if_none_match_but_the_current_tag_gets_the_body(reader: APIClient, header: str) -> None:
    courier = Courier.objects.first() or create_courier(name="Ann")

    response = reader.get(courier_url(courier), HTTP_IF_NONE_MATCH=header)

    assert (response.status_code, response.json()["name"]) == (200, "Ann")
