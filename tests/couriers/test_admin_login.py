"""Admin logins are locked out after LOGIN_FAILURE_LIMIT wrong passwords per user name and address, and per address."""

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

LOGIN = reverse("admin:login")
PASSWORD = "right-password"


@pytest.fixture(autouse=True)
def operator() -> User:
    return User.objects.create_superuser("operator", password=PASSWORD)


def log_in(username: str, password: str, address: str = "192.0.2.1") -> int:
    response = Client(REMOTE_ADDR=address).post(LOGIN, {"username": username, "password": password})
    return response.status_code


def test_the_right_password_logs_in() -> None:
    assert log_in("operator", PASSWORD) == 302


def test_after_the_limit_even_the_right_password_is_refused(settings) -> None:
    failures = [log_in("operator", "wrong") for _ in range(settings.AXES_FAILURE_LIMIT)]

    assert failures[:-1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)  # the form again, with its error
    assert failures[-1] == 429
    assert log_in("operator", PASSWORD) == 429


def test_wrong_passwords_from_other_addresses_do_not_lock_the_user_out(settings) -> None:
    for n in range(settings.AXES_FAILURE_LIMIT):
        log_in("operator", "wrong", address=f"198.51.100.{n}")

    assert log_in("operator", PASSWORD, address="198.51.100.200") == 302


def test_a_user_name_is_locked_from_the_address_that_tried_it(settings) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in("operator", "wrong", address="198.51.100.7")

    assert log_in("operator", PASSWORD, address="198.51.100.7") == 429
    assert log_in("operator", PASSWORD, address="198.51.100.8") == 302


def test_an_address_is_locked_whichever_user_name_it_tries(settings) -> None:
    User.objects.create_user("other", password=PASSWORD, is_staff=True)
    for n in range(settings.AXES_FAILURE_LIMIT):
        log_in(f"guess{n}", "wrong")

    assert log_in("other", PASSWORD) == 429
    assert log_in("other", PASSWORD, address="192.0.2.99") == 302


def test_a_forged_forwarded_address_does_not_escape_the_lockout(settings) -> None:
    for n in range(settings.AXES_FAILURE_LIMIT):
        Client(REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").post(
            LOGIN, {"username": f"guess{n}", "password": "wrong"}
        )

    assert log_in("operator", PASSWORD) == 429
