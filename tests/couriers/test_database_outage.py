"""The web process while the database cannot be reached: short 503s and one log line each, then back to normal."""

import logging

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from tests.db_outage import database_down
from tokens.services import token_create

pytestmark = pytest.mark.django_db(transaction=True)


def assert_no_traceback_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert [record.getMessage() for record in caplog.records if record.exc_info] == []


def test_readyz_is_503_while_the_database_is_down_and_200_after(caplog):
    client = APIClient()

    with caplog.at_level(logging.WARNING), database_down():
        down = client.get("/readyz")
    up = client.get("/readyz")

    assert (down.status_code, down.json()) == (503, {"status": "unavailable"})
    assert (up.status_code, up.json()) == (200, {"status": "ok"})
    assert "readiness check: the database does not answer" in caplog.text
    assert_no_traceback_logged(caplog)


def test_the_api_answers_503_in_its_error_shape(caplog):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_create(user=User.objects.create_superuser('u'))[1]}")

    with caplog.at_level(logging.WARNING), database_down():
        down = client.get("/api/v1/couriers/")
    up = client.get("/api/v1/couriers/")

    assert down.status_code == 503
    assert down.json()["error"]["code"] == "database_unavailable"
    assert up.status_code == 200
    assert_no_traceback_logged(caplog)


def test_the_admin_answers_503_and_works_again_after(caplog):
    client = Client()
    client.force_login(User.objects.create_superuser("admin", password="x"))

    with caplog.at_level(logging.WARNING), database_down():
        down = client.get("/admin/couriers/courier/")
    up = client.get("/admin/couriers/courier/")

    assert down.status_code == 503
    assert "the database does not answer" in down.content.decode()
    assert up.status_code == 200
    assert "database unavailable for GET /admin/couriers/courier/" in caplog.text
    assert_no_traceback_logged(caplog)
