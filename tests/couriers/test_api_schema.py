"""The OpenAPI schema is valid and documents every endpoint, filter and error answer."""

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def test_the_schema_is_valid_openapi(schema: dict) -> None:
    validate_schema(schema)  # raises on an invalid schema


def test_every_endpoint_is_documented(schema: dict) -> None:
    assert set(schema["paths"]) >= {
        "/api/v1/couriers/",
        "/api/v1/couriers/{id}/",
        "/api/v1/deliveries/",
        "/api/v1/deliveries/{id}/",
        "/api/v1/deliveries/assign/",
        "/api/v1/deliveries/unassign/",
        "/api/v1/deliveries/cancel/",
        "/api/v1/",
        "/api/v1/orders/{order_id}/delivery/",
        "/healthz",
        "/readyz",
    }


def test_filters_are_documented(schema: dict) -> None:
    def params(path: str) -> set[str]:
        return {p["name"] for p in schema["paths"][path]["get"]["parameters"]}

    assert params("/api/v1/couriers/") >= {"status", "transport_type", "search", "ordering", "page", "page_size"}
    assert params("/api/v1/deliveries/") >= {"status", "courier", "order_id", "overdue", "ordering", "page_size"}


def test_error_answers_use_the_error_schema(schema: dict) -> None:
    answers = schema["paths"]["/api/v1/couriers/{id}/"]["patch"]["responses"]

    assert set(answers) >= {"200", "400", "401", "403", "404", "409"}
    assert answers["409"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert set(schema["paths"]["/api/v1/deliveries/assign/"]["post"]["responses"]) >= {"502", "503"}


def test_deliveries_embed_the_courier_and_name_both_status_vocabularies(schema: dict) -> None:
    delivery = schema["components"]["schemas"]["Delivery"]["properties"]

    assert set(schema["components"]["schemas"]["DeliveryCourier"]["properties"]) == {
        "id",
        "name",
        "phone",
        "transport_type",
    }
    assert delivery["overdue"]["type"] == "boolean"
    assert delivery["queue_position"]["type"] == "integer"
    assert "cancelled (two l's)" in delivery["status"]["description"]
    assert "canceled (one l)" in delivery["order_status"]["description"]


def test_assign_and_unassign_document_waiting_as_202(schema: dict) -> None:
    for path in ("/api/v1/deliveries/assign/", "/api/v1/deliveries/unassign/"):
        answers = schema["paths"][path]["post"]["responses"]
        assert {"200", "202"} <= set(answers)
        assert "queue_position" in answers["202"]["description"]


def test_the_api_needs_credentials_and_the_probes_do_not(schema: dict) -> None:
    schemes = schema["components"]["securitySchemes"]
    assert {"tokenAuth", "bearerAuth", "cookieAuth"} <= set(schemes)
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert schema["paths"]["/api/v1/couriers/"]["get"]["security"] == [
        {"tokenAuth": []},
        {"bearerAuth": []},
        {"cookieAuth": []},
    ]
    assert "security" not in schema["paths"]["/healthz"]["get"]


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "content"), [("/api/schema/", b"/api/v1/couriers/"), ("/api/docs/", b"swagger-ui")])
def test_schema_and_docs_are_served(path: str, content: bytes) -> None:
    response = APIClient().get(path)

    assert response.status_code == 200
    assert content in response.content
