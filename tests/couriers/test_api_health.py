"""/healthz answers without the database; /readyz answers only with it."""

import pytest
from django.db import OperationalError, connection
from rest_framework.test import APIClient


def test_healthz_touches_no_database() -> None:
    # No db fixture: pytest-django turns any query here into an error.
    response = APIClient().get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_runs_a_query(django_assert_num_queries) -> None:
    with django_assert_num_queries(1):
        response = APIClient().get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_503_without_a_database(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(*args: object, **kwargs: object) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", unreachable)

    response = APIClient().get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


@pytest.mark.django_db
def test_probes_ignore_bad_credentials() -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token nonsense")

    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


# A container IP, as a load balancer or Prometheus asks: not in ALLOWED_HOSTS.
UNLISTED_HOST = "172.18.0.5:8000"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_probes_and_metrics_answer_any_host(path: str) -> None:
    response = APIClient().get(path, HTTP_HOST=UNLISTED_HOST, HTTP_ACCEPT="text/html")

    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/couriers/", "/admin/login/", "/api/docs/", "/healthz/extra"])
def test_everything_else_refuses_an_unlisted_host(path: str) -> None:
    assert APIClient().get(path, HTTP_HOST=UNLISTED_HOST).status_code == 400
