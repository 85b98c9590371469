"""/api/v1/deliveries/ and /api/v1/orders/{order_id}/delivery/: reads, filters, assign, unassign, cancel."""

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from couriers.models import Courier, Delivery, OrderKnowledge, OutboxEvent
from couriers.services import deliveries_match_waiting
from gateway.http import HttpOrderClient
from gateway.orders import BadOrderAnswer, OrderRequestRejected, OrderServiceUnavailable
from tests.couriers.factories import announce_end, create_courier, create_delivery
from tests.fakes import FakeOrderClient
from tests.gateway.scripted_service import Answer, scripted_service

pytestmark = pytest.mark.django_db

LIST = "/api/v1/deliveries/"
ASSIGN = "/api/v1/deliveries/assign/"
UNASSIGN = "/api/v1/deliveries/unassign/"
CANCEL = "/api/v1/deliveries/cancel/"
SETTLE = "/api/v1/deliveries/settle-dispute/"

FIELDS = {
    "id",
    "order_id",
    "courier",
    "status",
    "order_status",
    "order_checked_at",
    "assigned_at",
    "deadline",
    "overdue",
    "queue_position",
    "disputed",
    "end_announced",
    "end_announced_at",
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


def test_a_delivery_embeds_its_courier_and_says_whether_it_is_overdue(dispatcher: APIClient) -> None:
    courier = create_courier(name="Ann", phone="+79990000001", transport_type="car")
    late = create_delivery(courier=courier, deadline=timezone.now() - timedelta(minutes=1))
    waiting = create_delivery()

    rows = {row["id"]: row for row in dispatcher.get(LIST).json()["results"]}

    assert rows[late.pk]["courier"] == {
        "id": courier.pk,
        "name": "Ann",
        "phone": "+79990000001",
        "transport_type": "car",
    }
    assert rows[late.pk]["overdue"] is True
    assert (rows[waiting.pk]["courier"], rows[waiting.pk]["overdue"]) == (None, False)


def test_a_reader_sees_the_courier_without_the_phone(reader: APIClient) -> None:
    courier = create_courier(name="Ann", phone="+79990000001", transport_type="car")
    delivery = create_delivery(order_id="A-1", courier=courier)

    listed = reader.get(LIST).json()["results"][0]["courier"]
    by_order = reader.get(f"/api/v1/orders/{delivery.order_id}/delivery/").json()["courier"]

    assert listed == by_order == {"id": courier.pk, "name": "Ann", "transport_type": "car"}


def test_waiting_deliveries_give_their_place_in_the_queue(reader: APIClient) -> None:
    first, second = create_delivery(), create_delivery()
    assigned = create_delivery(courier=create_courier())
    create_delivery(status=Delivery.Status.CANCELLED)

    rows = {row["id"]: row["queue_position"] for row in reader.get(LIST).json()["results"]}

    assert (rows[first.pk], rows[second.pk], rows[assigned.pk]) == (1, 2, None)


def test_list_costs_the_same_few_queries_for_many_deliveries(reader: APIClient, django_assert_max_num_queries) -> None:
    for _ in range(50):
        create_delivery(courier=create_courier())

    with django_assert_max_num_queries(
        7
    ):  # token, its owner's other tokens (knox drops expired ones), last use, permissions, count, page, throttle
        response = reader.get(LIST, {"page_size": 100})

    assert len(response.json()["results"]) == 50


def test_filter_by_status(reader: APIClient) -> None:
    waiting = create_delivery()
    create_delivery(courier=create_courier())

    assert ids(reader.get(LIST, {"status": "awaiting_courier"})) == [waiting.pk]


def test_the_waiting_queue_lists_in_serving_order(reader: APIClient) -> None:
    first, second, third = create_delivery(), create_delivery(), create_delivery()
    create_delivery(courier=create_courier())

    rows = reader.get(LIST, {"status": "awaiting_courier"}).json()["results"]

    assert [(row["id"], row["queue_position"]) for row in rows] == [(first.pk, 1), (second.pk, 2), (third.pk, 3)]


def test_ordering_by_queue_position_puts_the_orders_not_waiting_last(reader: APIClient) -> None:
    assigned = create_delivery(courier=create_courier())
    first, second = create_delivery(), create_delivery()

    assert ids(reader.get(LIST, {"ordering": "queue_position"})) == [first.pk, second.pk, assigned.pk]
    assert ids(reader.get(LIST, {"ordering": "-queue_position"})) == [second.pk, first.pk, assigned.pk]


def test_rows_without_a_deadline_come_last_either_way(reader: APIClient) -> None:
    waiting = create_delivery()
    soon = create_delivery(courier=create_courier(), deadline=timezone.now() + timedelta(minutes=1))
    later = create_delivery(courier=create_courier(), deadline=timezone.now() + timedelta(minutes=9))

    assert ids(reader.get(LIST, {"ordering": "deadline"})) == [soon.pk, later.pk, waiting.pk]
    assert ids(reader.get(LIST, {"ordering": "-deadline"})) == [later.pk, soon.pk, waiting.pk]


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
        ("order_id", "a\nb"),
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


def test_detail_of_an_unknown_id_is_404_delivery_not_found(reader: APIClient) -> None:
    response = reader.get(LIST + "999999/")

    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "delivery_not_found",
        "message": "delivery 999999 does not exist",
        "fields": {},
    }


@pytest.mark.parametrize("path", ["abc/", "1.5/"])
def test_detail_of_a_malformed_id_is_a_path_the_api_does_not_have(reader: APIClient, path: str) -> None:
    response = reader.get(LIST + path)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- the delivery of an order ---------------------------------------------------


@pytest.mark.parametrize("order_id", ["A-1", "6f1c0c9e-4a3b-4c1e-9a57-2b8f5d1e7a10", "x_9", "x" * 255])
def test_the_delivery_of_an_order(reader: APIClient, order_id: str) -> None:
    delivery = create_delivery(order_id=order_id)

    response = reader.get(order_url(order_id))

    assert response.status_code == 200
    assert response.json()["id"] == delivery.pk


def test_an_order_without_delivery_is_404(reader: APIClient) -> None:
    create_delivery(order_id="x")

    response = reader.get(order_url("unknown"))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "delivery_not_found"


MALFORMED_ORDER_IDS = [
    ("%00", "a\x00b"),
    ("a%00b", "a\x00b"),
    ("a%0Ab", "a\nb"),
    ("a%0D%0Ab", "a\r\nb"),
    ("%20%20", "  "),
    ("x" * 256, "x" * 256),
    # Outside the alphabet (gateway.order_ids): what WSGI decodes would steer the request to service-order.
    ("123%2Fitems", "123/items"),
    ("%2E%2E%2F%2E%2E%2Finternal%2Fadmin", "../../internal/admin"),
    ("..", ".."),
    (".", "."),
    ("a%20b", "a b"),
    ("%25ff", "%ff"),
    ("%C3%A9", "é"),
    ("'%3B--", "';--"),
]


@pytest.mark.parametrize(("in_path", "in_body"), MALFORMED_ORDER_IDS)
def test_a_malformed_order_id_is_400_in_a_path_as_in_a_body(
    dispatcher: APIClient, fake_orders: FakeOrderClient, in_path: str, in_body: str
) -> None:
    by_path = dispatcher.get(order_url(in_path))
    by_body = dispatcher.post(ASSIGN, {"order_id": in_body}, format="json")

    assert (by_path.status_code, by_body.status_code) == (400, 400)
    assert set(by_path.json()["error"]["fields"]) == set(by_body.json()["error"]["fields"]) == {"order_id"}
    assert fake_orders.calls == []


# --- assign and unassign --------------------------------------------------------


def test_assign_gives_an_active_order_a_courier(dispatcher: APIClient, fake_orders: FakeOrderClient) -> None:
    courier = create_courier()
    fake_orders.set("A-1", "cooking")

    response = dispatcher.post(ASSIGN, {"order_id": "A-1"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["order_id"], body["status"], body["courier"]["id"]) == ("A-1", "assigned", courier.pk)
    assert body["assigned_at"] is not None
    assert body["queue_position"] is None
    assert fake_orders.calls == ["A-1"]


def test_assign_without_a_free_courier_is_202_with_the_place_in_the_queue(
    dispatcher: APIClient, fake_orders: FakeOrderClient
) -> None:
    create_delivery(order_id="earlier")
    fake_orders.set("A-1", "created")

    response = dispatcher.post(ASSIGN, {"order_id": "A-1"}, format="json")

    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["courier"], body["queue_position"]) == ("awaiting_courier", None, 2)


def test_assign_reopens_a_cancelled_delivery(dispatcher: APIClient, fake_orders: FakeOrderClient) -> None:
    create_delivery(order_id="A-1", status=Delivery.Status.CANCELLED)
    courier = create_courier()
    fake_orders.set("A-1", "cooking")

    body = dispatcher.post(ASSIGN, {"order_id": "A-1"}, format="json").json()

    assert (body["status"], body["courier"]["id"]) == ("assigned", courier.pk)


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


def test_assign_of_an_id_service_order_refuses_is_404_as_an_unknown_order(
    dispatcher: APIClient, fake_orders: FakeOrderClient
) -> None:
    fake_orders.fail("not-a-uuid", OrderRequestRejected("400 bad_request"))

    response = dispatcher.post(ASSIGN, {"order_id": "not-a-uuid"}, format="json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "order_not_found"


@pytest.mark.parametrize("value", [123, 1e300, True, None, ["A-1"], {"id": "A-1"}])
def test_an_order_id_that_is_not_a_json_string_is_refused(
    dispatcher: APIClient, fake_orders: FakeOrderClient, value: object
) -> None:
    response = dispatcher.post(ASSIGN, {"order_id": value}, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["order_id"]
    assert fake_orders.calls == []


@pytest.mark.parametrize(
    ("failure", "status_code", "code"),
    [
        (OrderServiceUnavailable("down, see http://internal:8083"), 503, "order_service_unavailable"),
        (BadOrderAnswer("html"), 502, "bad_order_answer"),
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
    "raw",
    [b"[" * 100_000 + b"]" * 100_000, b'{"status": "cooking", "n": ' + b"9" * 5000 + b"}"],
    ids=["deep-nesting", "huge-number"],
)
def test_assign_when_service_order_answers_what_no_parser_reads_is_502(
    dispatcher: APIClient, monkeypatch: pytest.MonkeyPatch, raw: bytes
) -> None:
    # Over real HTTP: the body that once raised RecursionError in the gateway (a 500) is a bad answer.
    with scripted_service() as service:
        service.answer(Answer(raw=raw))
        monkeypatch.setattr("couriers.api.views.default_order_client", lambda: HttpOrderClient(base_url=service.url))

        response = dispatcher.post(ASSIGN, {"order_id": "A-1"}, format="json")

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "bad_order_answer"
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
@pytest.mark.parametrize("url", [ASSIGN, UNASSIGN, CANCEL])
def test_assign_and_unassign_reject_invalid_bodies_naming_the_field(
    dispatcher: APIClient, fake_orders: FakeOrderClient, url: str, body: dict, field: str
) -> None:
    response = dispatcher.post(url, body, format="json")

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {field}
    assert fake_orders.calls == []


def test_unassign_puts_the_order_back_in_the_queue_in_its_place(dispatcher: APIClient) -> None:
    courier = create_courier()
    create_delivery(order_id="A-0")
    create_delivery(order_id="A-1", courier=courier)
    create_delivery(order_id="B-1")

    response = dispatcher.post(UNASSIGN, {"order_id": "A-1"}, format="json")

    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["courier"], body["assigned_at"], body["deadline"]) == (
        "awaiting_courier",
        None,
        None,
        None,
    )
    assert body["queue_position"] == 2  # behind A-0, which arrived first; ahead of B-1
    assert Courier.objects.get(pk=courier.pk).status == "paused"


def test_unassign_hands_the_order_to_a_free_courier_at_once(dispatcher: APIClient) -> None:
    taken_off = create_courier()
    create_delivery(order_id="A-1", courier=taken_off)
    free = create_courier()

    response = dispatcher.post(UNASSIGN, {"order_id": "A-1"}, format="json")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["courier"]["id"]) == ("assigned", free.pk)


def test_unassign_answers_what_the_matching_step_made_of_the_order(
    dispatcher: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The free courier is locked by another transaction at the pick (SKIP LOCKED passes it by): the order
    # is queued, and the matching step after the commit gives it that courier (run at once here: a test's
    # transaction never commits). The answer says what the matching step made of it.
    create_delivery(order_id="A-1", courier=create_courier())
    free = create_courier()
    monkeypatch.setattr("couriers.services.deliveries.pick_courier", lambda now: None)
    monkeypatch.setattr("couriers.services.deliveries.match_after_commit", deliveries_match_waiting)

    response = dispatcher.post(UNASSIGN, {"order_id": "A-1"}, format="json")

    body = response.json()
    assert (response.status_code, body["status"], body["courier"]["id"]) == (200, "assigned", free.pk)
    assert body["queue_position"] is None


def test_reassigning_sets_a_new_assignment_time_and_deadline(
    dispatcher: APIClient, fake_orders: FakeOrderClient
) -> None:
    old = timezone.now() - timedelta(hours=1)
    create_delivery(order_id="A-1", courier=create_courier(), deadline=old)
    Delivery.objects.filter(order_id="A-1").update(assigned_at=old)
    dispatcher.post(UNASSIGN, {"order_id": "A-1"}, format="json")
    fresh = create_courier(transport_type="car")
    fake_orders.set("A-1", "cooking")

    body = dispatcher.post(ASSIGN, {"order_id": "A-1"}, format="json").json()

    assert body["courier"]["id"] == fresh.pk
    delivery = Delivery.objects.get(order_id="A-1")
    assert delivery.assigned_at > old
    assert delivery.deadline == delivery.assigned_at + timedelta(minutes=5)


def test_unassign_of_a_waiting_order_is_409(dispatcher: APIClient) -> None:
    create_delivery(order_id="A-1")

    response = dispatcher.post(UNASSIGN, {"order_id": "A-1"}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "delivery_not_assigned"


@pytest.mark.parametrize("url", [UNASSIGN, CANCEL])
def test_unassign_or_cancel_of_an_order_without_delivery_is_404(dispatcher: APIClient, url: str) -> None:
    response = dispatcher.post(url, {"order_id": "nope"}, format="json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "delivery_not_found"


@pytest.mark.parametrize("url", [UNASSIGN, CANCEL])
def test_unassign_or_cancel_of_a_finished_delivery_is_409(dispatcher: APIClient, url: str) -> None:
    create_delivery(order_id="A-1", courier=create_courier(), status=Delivery.Status.COMPLETED)

    response = dispatcher.post(url, {"order_id": "A-1"}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "delivery_finished"


def test_cancel_ends_the_delivery_and_the_courier_takes_the_oldest_waiting_order(dispatcher: APIClient) -> None:
    courier = create_courier()
    create_delivery(order_id="A-1", courier=courier)
    oldest = create_delivery(order_id="B-1")
    create_delivery(order_id="B-2")

    response = dispatcher.post(CANCEL, {"order_id": "A-1"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    oldest.refresh_from_db()
    assert (oldest.status, oldest.courier_id) == ("assigned", courier.pk)


def test_cancel_of_a_waiting_order_cancels_it(dispatcher: APIClient) -> None:
    create_delivery(order_id="A-1")

    body = dispatcher.post(CANCEL, {"order_id": "A-1"}, format="json").json()

    assert (body["status"], body["courier"], body["queue_position"]) == ("cancelled", None, None)


# --- disputes -------------------------------------------------------------------


def create_disputed(order_id: str, courier: Courier | None = None) -> Delivery:
    delivery = create_delivery(order_id=order_id, courier=courier)
    announce_end(delivery)
    return delivery


def test_a_disputed_delivery_says_so_and_is_filtered(reader: APIClient) -> None:
    disputed = create_disputed("A-1", create_courier())
    plain = create_delivery(order_id="B-1", courier=create_courier())

    row = reader.get(order_url("A-1")).json()

    assert (row["disputed"], row["end_announced"]) == (True, "completed")
    assert row["end_announced_at"] is not None
    assert ids(reader.get(LIST, {"disputed": "true"})) == [disputed.pk]
    assert ids(reader.get(LIST, {"disputed": "false"})) == [plain.pk]
    assert reader.get(LIST, {"disputed": "maybe"}).status_code == 400


def test_a_disputed_waiting_delivery_has_no_place_in_the_queue(reader: APIClient) -> None:
    # It takes no courier until the dispute is settled: the order behind it is the next served.
    disputed = create_disputed("A-1")
    behind = create_delivery(order_id="B-1")

    rows = {row["id"]: row for row in reader.get(LIST).json()["results"]}

    assert (rows[disputed.pk]["status"], rows[disputed.pk]["disputed"]) == ("awaiting_courier", True)
    assert rows[disputed.pk]["queue_position"] is None
    assert rows[behind.pk]["queue_position"] == 1
    assert ids(reader.get(LIST, {"ordering": "queue_position"})) == [behind.pk, disputed.pk]


def test_settle_dispute_accepts_the_announced_end(dispatcher: APIClient) -> None:
    courier = create_courier()
    create_disputed("A-1", courier)

    response = dispatcher.post(SETTLE, {"order_id": "A-1", "accept": True}, format="json")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["disputed"]) == ("completed", False)
    courier.refresh_from_db()
    assert courier.status == Courier.Status.AVAILABLE
    assert OrderKnowledge.objects.get(order_id="A-1").verdict == OrderKnowledge.Verdict.ACCEPTED
    last = OutboxEvent.objects.get(order_id="A-1")
    assert (last.type, last.payload["cause"]) == ("completed", "dispatcher")


def test_settle_dispute_rejects_it(dispatcher: APIClient) -> None:
    create_disputed("A-1", create_courier())

    body = dispatcher.post(SETTLE, {"order_id": "A-1", "accept": False}, format="json").json()

    assert (body["status"], body["disputed"], body["end_announced"]) == ("assigned", False, "")
    assert body["end_announced_at"] is None
    assert OrderKnowledge.objects.get(order_id="A-1").verdict == OrderKnowledge.Verdict.REJECTED
    settled = OutboxEvent.objects.get(order_id="A-1")
    assert (settled.type, settled.version, settled.payload["cause"]) == ("settled", 1, "dispatcher")
    assert dispatcher.get(order_url("A-1")).json()["disputed"] is False


def test_a_rejected_dispute_puts_a_waiting_order_back_in_the_queue(
    dispatcher: APIClient, django_capture_on_commit_callbacks
) -> None:
    create_disputed("A-1")
    courier = create_courier()  # free all along: the dispute alone kept it from the order

    with django_capture_on_commit_callbacks(execute=True):
        body = dispatcher.post(SETTLE, {"order_id": "A-1", "accept": False}, format="json").json()

    assert (body["disputed"], body["queue_position"]) == (False, 1)
    delivery = Delivery.objects.get(order_id="A-1")
    assert (delivery.status, delivery.courier_id) == (Delivery.Status.ASSIGNED, courier.pk)
    assert list(OutboxEvent.objects.filter(order_id="A-1").values_list("type", "version")) == [
        ("settled", 1),
        ("assigned", 2),
    ]


@pytest.mark.parametrize(
    ("body", "status_code", "code"),
    [
        ({"order_id": "A-1"}, 400, "invalid"),
        ({"order_id": "A-1", "accept": "perhaps"}, 400, "invalid"),
        ({"order_id": "A-1", "accept": "true"}, 400, "invalid"),
        ({"order_id": "A-1", "accept": 1}, 400, "invalid"),
        ({"order_id": "nope", "accept": True}, 404, "delivery_not_found"),
        ({"order_id": "B-1", "accept": True}, 409, "delivery_not_disputed"),
    ],
)
def test_settle_dispute_refusals(dispatcher: APIClient, body: dict, status_code: int, code: str) -> None:
    create_disputed("A-1", create_courier())
    create_delivery(order_id="B-1", courier=create_courier())

    response = dispatcher.post(SETTLE, body, format="json")

    assert response.status_code == status_code
    assert response.json()["error"]["code"] == code


JSON_VALUES = st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.lists(st.integers(), max_size=2)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    body=st.dictionaries(
        st.sampled_from(["order_id", "accept", "other"]) | st.text(max_size=8), JSON_VALUES | st.just("A-1"), max_size=3
    )
)
def test_settle_dispute_answers_any_body_with_a_decision_or_a_400_naming_the_fields(
    dispatcher: APIClient, body: dict
) -> None:
    if not Delivery.objects.filter(order_id="A-1").exists():
        create_disputed("A-1", create_courier())

    response = dispatcher.post(SETTLE, body, format="json")

    assert response.status_code in (200, 400, 404, 409), response.content
    if response.status_code == 400:
        named = set(response.json()["error"]["fields"])
        assert named, response.content
        assert named <= set(body) | {"order_id", "accept"}
