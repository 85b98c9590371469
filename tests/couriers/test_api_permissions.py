"""Who may do what: anonymous 401 everywhere, readers read, staff and dispatchers write."""

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from couriers.models import Courier
from tests.couriers.factories import create_courier, create_delivery
from tests.fakes import FakeOrderClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def paths() -> dict[str, str]:
    courier = create_courier()
    delivery = create_delivery(order_id="A-1", courier=create_courier())
    return {
        "couriers": "/api/v1/couriers/",
        "courier": f"/api/v1/couriers/{courier.pk}/",
        "deliveries": "/api/v1/deliveries/",
        "delivery": f"/api/v1/deliveries/{delivery.pk}/",
        "order": "/api/v1/orders/A-1/delivery/",
        "assign": "/api/v1/deliveries/assign/",
        "unassign": "/api/v1/deliveries/unassign/",
        "elsewhere": "/api/v1/nothing/here/",
    }


READS = ["couriers", "courier", "deliveries", "delivery", "order"]
WRITES = [
    ("post", "couriers", {"name": "Ann", "phone": "+79990000001", "transport_type": "car"}),
    ("patch", "courier", {"name": "Anna"}),
    ("put", "courier", {"name": "Anna", "phone": "+79990000002", "transport_type": "car"}),
    ("delete", "courier", None),
    ("post", "assign", {"order_id": "A-1"}),
    ("post", "unassign", {"order_id": "A-1"}),
]
ALL = [("get", name, None) for name in [*READS, "elsewhere"]] + WRITES


@pytest.mark.parametrize(("method", "name", "body"), ALL)
def test_anonymous_gets_401_with_a_token_challenge(
    anonymous: APIClient, paths: dict[str, str], method: str, name: str, body: dict | None
) -> None:
    response = getattr(anonymous, method)(paths[name], body, format="json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"]["code"] == "not_authenticated"


def test_an_invalid_token_is_401(anonymous: APIClient, paths: dict[str, str]) -> None:
    anonymous.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = anonymous.get(paths["couriers"])

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


@pytest.mark.parametrize("name", READS)
def test_a_plain_user_reads(reader: APIClient, paths: dict[str, str], name: str) -> None:
    assert reader.get(paths[name]).status_code == 200


@pytest.mark.parametrize(("method", "name", "body"), WRITES)
def test_a_plain_user_cannot_write(
    reader: APIClient, paths: dict[str, str], method: str, name: str, body: dict | None
) -> None:
    response = getattr(reader, method)(paths[name], body, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert Courier.objects.count() == 1
    assert Courier.objects.get().name == "Courier"


@pytest.mark.parametrize("client_name", ["dispatcher", "staff"])
@pytest.mark.parametrize(
    ("method", "name", "body", "expected"),
    [(*write, ok) for write, ok in zip(WRITES, [201, 200, 200, 204, 200, 200], strict=True)],
)
def test_dispatchers_and_staff_write(
    request: pytest.FixtureRequest,
    fake_orders: FakeOrderClient,
    paths: dict[str, str],
    client_name: str,
    method: str,
    name: str,
    body: dict | None,
    expected: int,
) -> None:
    client: APIClient = request.getfixturevalue(client_name)
    fake_orders.set("A-1", "cooking")

    response = getattr(client, method)(paths[name], body, format="json")

    assert response.status_code == expected


def test_session_authentication_reads(paths: dict[str, str]) -> None:
    client = APIClient()
    client.force_login(User.objects.create_user("web"))

    assert client.get(paths["couriers"]).status_code == 200


def test_session_writes_need_the_csrf_token(paths: dict[str, str]) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(User.objects.create_user("web", is_staff=True))

    response = client.patch(paths["courier"], {"name": "Anna"}, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
