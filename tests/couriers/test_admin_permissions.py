"""Who may do what in the admin: every change and action needs its model permission, as in the API."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from couriers.models import Courier, Delivery
from tests.couriers.conftest import dispatcher_user
from tests.couriers.factories import create_courier, create_delivery
from tests.couriers.test_admin import inline_management

pytestmark = pytest.mark.django_db

COURIERS = reverse("admin:couriers_courier_changelist")
DELIVERIES = reverse("admin:couriers_delivery_changelist")


def _action(url: str, action: str, pk: int) -> dict:
    return {"url": url, "data": {"action": action, "_selected_action": [pk]}}


def _operations(spare: Courier, paused: Courier, busy_delivery: Delivery) -> dict[str, tuple[dict, Callable[[], bool]]]:
    """Each admin write: the POST that asks for it, and whether it happened."""
    return {
        "add courier": (
            {
                "url": reverse("admin:couriers_courier_add"),
                "data": {"name": "Ann", "phone": "+79990000001", "transport_type": "car"},
            },
            lambda: Courier.objects.filter(name="Ann").exists(),
        ),
        "change courier": (
            {
                "url": reverse("admin:couriers_courier_change", args=[spare.pk]),
                "data": {"name": "Renamed", "phone": spare.phone, "transport_type": "car", **inline_management()},
            },
            lambda: Courier.objects.filter(name="Renamed").exists(),
        ),
        "delete courier": (
            {"url": reverse("admin:couriers_courier_delete", args=[spare.pk]), "data": {"post": "yes"}},
            lambda: not Courier.objects.filter(pk=spare.pk).exists(),
        ),
        "pause": (
            _action(COURIERS, "pause", spare.pk),
            lambda: Courier.objects.get(pk=spare.pk).status == "paused",
        ),
        "make available": (
            _action(COURIERS, "make_available", paused.pk),
            lambda: Courier.objects.get(pk=paused.pk).status == "available",
        ),
        "take courier off": (
            _action(DELIVERIES, "take_courier_off", busy_delivery.pk),
            lambda: Delivery.objects.get(pk=busy_delivery.pk).courier_id != busy_delivery.courier_id,
        ),
        "cancel": (
            _action(DELIVERIES, "cancel_and_release", busy_delivery.pk),
            lambda: Delivery.objects.get(pk=busy_delivery.pk).status == "cancelled",
        ),
    }


WRITES = ["add courier", "change courier", "delete courier", "pause", "make available", "take courier off", "cancel"]
ALLOWED = {
    "anonymous": set(),
    "plain user": set(),
    "staff without permissions": set(),
    "dispatcher": set(WRITES) - {"delete courier"},
    "superuser": set(WRITES),
}


def _signed_in(principal: str) -> Client:
    client = Client()
    users = {
        "anonymous": lambda: None,
        "plain user": lambda: User.objects.create_user("plain"),
        "staff without permissions": lambda: User.objects.create_user("staff", is_staff=True),
        "dispatcher": dispatcher_user,
        "superuser": lambda: User.objects.create_superuser("root"),
    }
    user = users[principal]()
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.parametrize("principal", list(ALLOWED))
@pytest.mark.parametrize("write", WRITES)
def test_each_admin_write_needs_its_permission(principal: str, write: str) -> None:
    spare = create_courier(name="Spare")
    paused = create_courier(name="Paused", status="paused")
    busy_delivery = create_delivery(courier=create_courier(name="Busy"))
    request, happened = _operations(spare, paused, busy_delivery)[write]
    client = _signed_in(principal)

    response = client.post(request["url"], request["data"])

    assert happened() == (write in ALLOWED[principal])
    if principal in ("anonymous", "plain user"):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("principal", ["staff without permissions", "dispatcher"])
def test_the_delete_page_reveals_nothing_without_the_permission(principal: str) -> None:
    with_history = create_courier(name="Busy")
    create_delivery(courier=with_history)
    client = _signed_in(principal)

    # A redirect to the courier's page with "cannot be deleted" would tell that it exists and has history.
    answers = [client.get(reverse("admin:couriers_courier_delete", args=[pk])) for pk in (with_history.pk, 999_999)]

    assert [answer.status_code for answer in answers] == [403, 403]
