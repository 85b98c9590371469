"""Near-miss URLs lead somewhere: a missing final slash, /api/, and / itself."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/api/v1/couriers", "/api/v1/couriers/"),
        ("/api/v1/couriers?status=paused", "/api/v1/couriers/?status=paused"),
        ("/api/v1/deliveries/7", "/api/v1/deliveries/7/"),
        ("/api/v1/orders/A-1/delivery", "/api/v1/orders/A-1/delivery/"),
    ],
)
def test_a_read_without_the_final_slash_is_redirected(reader: APIClient, path: str, target: str) -> None:
    response = reader.get(path)

    assert (response.status_code, response["Location"]) == (301, target)


def test_a_write_without_the_final_slash_is_a_404_naming_the_url(dispatcher: APIClient) -> None:
    response = dispatcher.post("/api/v1/deliveries/assign", {"order_id": "A-1"}, format="json")

    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": "Not found: the URL is /api/v1/deliveries/assign/ (with the final slash).",
        "fields": {},
    }


@pytest.mark.parametrize("path", ["/api/v1/nothing", "/api/v1/nothing/", "/api/v1/couriers/abc"])
def test_a_path_the_api_does_not_have_stays_a_plain_404(reader: APIClient, path: str) -> None:
    response = reader.get(path)

    assert (response.status_code, response.json()["error"]["message"]) == (404, "Not found.")


def test_the_redirect_comes_after_authentication(anonymous: APIClient) -> None:
    assert anonymous.get("/api/v1/couriers").status_code == 401


def test_api_leads_to_the_api_root(reader: APIClient) -> None:
    response = reader.get("/api/", follow=True)

    assert response.redirect_chain[-1][0] == "/api/v1/"
    assert "couriers" in response.json()


def test_the_landing_page_links_the_admin_the_api_and_its_docs(db: None) -> None:
    response = Client().get("/")

    assert response.status_code == 200
    for link in ['href="/admin/"', 'href="/api/v1/"', 'href="/api/docs/"', 'href="/api/schema/"']:
        assert link in response.content.decode()
