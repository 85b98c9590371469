"""Who may do what in the API: anonymous 401 everywhere, each read and each write needs its Django model
permission (staff status alone grants none)."""

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from couriers.api.permissions import DISPATCHERS_GROUP, READERS_GROUP
from couriers.models import Courier, Delivery
from tests.couriers.factories import announce_end, create_courier, create_delivery
from tests.fakes import FakeOrderClient
from tests.groups import migrated_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def paths() -> dict[str, str]:
    spare = create_courier(name="Spare")  # no history: it can be deleted
    delivery = create_delivery(order_id="A-1", courier=create_courier(name="On the road"))
    disputed = create_delivery(order_id="B-1", courier=create_courier(name="Disputed"))
    announce_end(disputed)
    return {
        "root": "/api/v1/",
        "couriers": "/api/v1/couriers/",
        "courier": f"/api/v1/couriers/{spare.pk}/",
        "deliveries": "/api/v1/deliveries/",
        "delivery": f"/api/v1/deliveries/{delivery.pk}/",
        "order": "/api/v1/orders/A-1/delivery/",
        "assign": "/api/v1/deliveries/assign/",
        "unassign": "/api/v1/deliveries/unassign/",
        "cancel": "/api/v1/deliveries/cancel/",
        "settle_dispute": "/api/v1/deliveries/settle-dispute/",
        "elsewhere": "/api/v1/nothing/here/",
    }


READS = ["root", "couriers", "courier", "deliveries", "delivery", "order"]
WRITES = {
    "create courier": ("post", "couriers", {"name": "Ann", "phone": "+79990000001", "transport_type": "car"}),
    "patch courier": ("patch", "courier", {"name": "Anna"}),
    "put courier": ("put", "courier", {"name": "Anna", "phone": "+79990000002", "transport_type": "car"}),
    "delete courier": ("delete", "courier", None),
    "assign": ("post", "assign", {"order_id": "A-1"}),
    "unassign": ("post", "unassign", {"order_id": "A-1"}),
    "cancel": ("post", "cancel", {"order_id": "A-1"}),
    "settle dispute": ("post", "settle_dispute", {"order_id": "B-1", "accept": True}),
}
SUCCESS = {
    "create courier": 201,
    "patch courier": 200,
    "put courier": 200,
    "delete courier": 204,
    "assign": 200,
    "unassign": 200,  # the spare courier takes the order at once
    "cancel": 200,
    "settle dispute": 200,
}
# Who may do each write; everyone signed in gets 403 for the others.
ALLOWED = {
    "reader": set(),
    "staff": set(),
    "dispatcher": set(WRITES) - {"delete courier"},
    "superuser": set(WRITES),
}
ALL = [("get", name, None) for name in [*READS, "elsewhere"]] + list(WRITES.values())


def _state() -> tuple:
    """Everything a write could have changed."""
    return (
        sorted(Courier.objects.values_list("name", "phone", "status")),
        sorted(Delivery.objects.values_list("order_id", "status", "courier__name")),
    )


@pytest.mark.parametrize(("method", "name", "body"), ALL)
def test_anonymous_gets_401_with_a_token_challenge(
    anonymous: APIClient, paths: dict[str, str], method: str, name: str, body: dict | None
) -> None:
    response = getattr(anonymous, method)(paths[name], body, format="json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("keyword", ["Token", "Bearer", "bearer"])
def test_an_invalid_token_is_401(anonymous: APIClient, paths: dict[str, str], keyword: str) -> None:
    anonymous.credentials(HTTP_AUTHORIZATION=f"{keyword} not-a-real-token")

    response = anonymous.get(paths["couriers"])

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


@pytest.mark.parametrize("client_name", ["reader", "dispatcher", "superuser"])
@pytest.mark.parametrize("name", READS)
def test_readers_dispatchers_and_superusers_read(
    request: pytest.FixtureRequest, paths: dict[str, str], client_name: str, name: str
) -> None:
    client: APIClient = request.getfixturevalue(client_name)

    assert client.get(paths[name]).status_code == 200


@pytest.mark.parametrize("client_name", ["nobody", "staff"])
@pytest.mark.parametrize("name", [name for name in READS if name != "root"])
def test_a_read_needs_the_view_permission(
    request: pytest.FixtureRequest, paths: dict[str, str], client_name: str, name: str
) -> None:
    client: APIClient = request.getfixturevalue(client_name)

    response = client.get(paths[name])

    assert response.status_code == 403
    assert ".view_" in response.json()["error"]["message"]
    assert client.get(paths["root"]).status_code == 200


def test_the_migration_gives_readers_views_without_phones() -> None:
    granted = migrated_group(READERS_GROUP).permissions.values_list("content_type__model", "codename")

    assert set(granted) == {("courier", "view_courier"), ("delivery", "view_delivery")}


@pytest.mark.parametrize("client_name", list(ALLOWED))
@pytest.mark.parametrize("write", list(WRITES))
def test_each_write_needs_its_permission(
    request: pytest.FixtureRequest, fake_orders: FakeOrderClient, paths: dict[str, str], client_name: str, write: str
) -> None:
    client: APIClient = request.getfixturevalue(client_name)
    fake_orders.set("A-1", "cooking")
    method, name, body = WRITES[write]
    before = _state()

    response = getattr(client, method)(paths[name], body, format="json")

    if write in ALLOWED[client_name]:
        assert response.status_code == SUCCESS[write], response.json()
    else:
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["code"] == "permission_denied"
        assert "couriers." in error["message"]  # names the permission it needs
        assert _state() == before


def test_the_migration_gives_dispatchers_exactly_what_they_need() -> None:
    granted = migrated_group(DISPATCHERS_GROUP).permissions.values_list("content_type__model", "codename")

    assert set(granted) == {
        ("courier", "view_courier"),
        ("courier", "add_courier"),
        ("courier", "change_courier"),
        ("delivery", "view_delivery"),
        ("delivery", "dispatch_delivery"),
        ("courier", "view_courier_phone"),
    }


def test_a_permission_given_to_one_user_is_enough(paths: dict[str, str]) -> None:
    user = User.objects.create_user("fleet-bot")
    user.user_permissions.add(*user_permissions("change_courier"))
    client = APIClient()
    client.force_authenticate(user)

    assert client.patch(paths["courier"], {"name": "Anna"}, format="json").status_code == 200
    assert client.delete(paths["courier"]).status_code == 403


def user_permissions(*codenames: str) -> list[Permission]:
    return list(Permission.objects.filter(content_type__app_label="couriers", codename__in=codenames))


@pytest.mark.parametrize("keyword", ["Token", "Bearer"])
def test_both_token_keywords_are_accepted(reader: APIClient, paths: dict[str, str], keyword: str) -> None:
    key = reader._credentials["HTTP_AUTHORIZATION"].split()[1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {key}")

    assert client.get(paths["couriers"]).status_code == 200


def test_session_authentication_reads(paths: dict[str, str]) -> None:
    client = APIClient()
    user = User.objects.create_user("web")
    user.groups.add(migrated_group(READERS_GROUP))
    client.force_login(user)

    assert client.get(paths["couriers"]).status_code == 200


def test_session_writes_need_the_csrf_token(paths: dict[str, str]) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(User.objects.create_superuser("web"))

    response = client.patch(paths["courier"], {"name": "Anna"}, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
