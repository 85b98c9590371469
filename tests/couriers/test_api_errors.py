"""One error shape for everything a client can get wrong, and nothing it sends answers 500."""

from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError
from django.http import Http404
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle
from rest_framework.validators import UniqueValidator

from couriers.api.errors import exception_handler
from couriers.errors import Conflict, DispatchError, NotFound
from couriers.models import Courier
from tests.couriers.factories import create_courier

pytestmark = pytest.mark.django_db

COURIERS = "/api/v1/couriers/"
NEW = {"name": "Ann", "phone": "+79990000001", "transport_type": "car"}


def error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


@pytest.mark.parametrize(
    "raw",
    [
        '{"name": ',
        "{'name': 'Ann'}",
        '{"name": NaN}',
        "[" * 100_000 + "]" * 100_000,
        b'{"name": "\xff"}',
    ],
)
def test_malformed_json_is_a_parse_error(dispatcher: APIClient, raw: str | bytes) -> None:
    response = dispatcher.post(COURIERS, data=raw, content_type="application/json")

    assert response.status_code == 400
    assert error(response)["code"] == "parse_error"


@pytest.mark.parametrize("raw", ["[1, 2]", '"Ann"', "42", "null"])
def test_a_body_that_is_not_an_object_is_400(dispatcher: APIClient, raw: str) -> None:
    response = dispatcher.post(COURIERS, data=raw, content_type="application/json")

    assert response.status_code == 400
    assert error(response)["code"] in {"invalid", "parse_error"}
    assert not Courier.objects.exists()


def test_a_body_over_the_upload_limit_is_413(dispatcher: APIClient, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = dispatcher.post(COURIERS, {**NEW, "name": "x" * 2000}, format="json")

    assert response.status_code == 413
    assert error(response)["code"] == "request_too_large"


def test_a_body_that_is_not_json_is_415(dispatcher: APIClient) -> None:
    response = dispatcher.post(COURIERS, data="name=Ann", content_type="text/plain")

    assert response.status_code == 415
    assert error(response)["code"] == "unsupported_media_type"


@pytest.mark.parametrize("body_format", ["multipart", "form"])
def test_form_and_multipart_bodies_are_415_unread(
    dispatcher: APIClient, body_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def parsed(*args: object) -> None:
        raise AssertionError("the body was parsed")

    monkeypatch.setattr("django.http.multipartparser.MultiPartParser.parse", parsed)
    monkeypatch.setattr("rest_framework.parsers.FormParser.parse", parsed)
    upload = {**NEW, "file": SimpleUploadedFile("big.bin", b"x" * 100_000)} if body_format == "multipart" else NEW
    data = upload if body_format == "multipart" else urlencode(NEW)
    content_type = None if body_format == "multipart" else "application/x-www-form-urlencoded"

    response = dispatcher.post(COURIERS, data, **({"content_type": content_type} if content_type else {}))

    assert response.status_code == 415
    assert error(response)["code"] == "unsupported_media_type"
    assert not Courier.objects.exists()


def test_huge_strings_are_400_not_500(dispatcher: APIClient) -> None:
    response = dispatcher.post(COURIERS, {**NEW, "name": "x" * 100_000, "phone": "+" + "9" * 100_000}, format="json")

    assert response.status_code == 400
    assert set(error(response)["fields"]) == {"name", "phone"}


@pytest.mark.parametrize(("method", "path"), [("delete", "/api/v1/deliveries/"), ("get", "/api/v1/deliveries/assign/")])
def test_a_method_the_endpoint_does_not_have_is_405(dispatcher: APIClient, method: str, path: str) -> None:
    response = getattr(dispatcher, method)(path)

    assert response.status_code == 405
    assert error(response)["code"] == "method_not_allowed"


@pytest.mark.parametrize("path", ["/api/v1/riders/", "/api/v1/couriers/1/extra/", "/api/v1/couriers/%00/"])
def test_a_path_that_is_not_the_apis_is_404_in_the_same_shape(reader: APIClient, path: str) -> None:
    response = reader.get(path)

    assert response.status_code == 404
    assert error(response)["code"] == "not_found"


def test_the_root_lists_the_resources(reader: APIClient) -> None:
    body = reader.get("/api/v1/").json()

    assert body["couriers"] == "http://testserver/api/v1/couriers/"
    assert body["order_delivery"] == "http://testserver/api/v1/orders/{order_id}/delivery/"
    assert set(body) == {
        "couriers",
        "deliveries",
        "order_delivery",
        "assign",
        "unassign",
        "cancel",
        "settle_dispute",
        "schema",
        "docs",
    }
    answers = {name: reader.get(url).status_code for name, url in body.items() if name != "order_delivery"}
    # Every URL leads somewhere: the reads answer, the writes refuse GET as a method they do not have.
    assert answers == {"couriers": 200, "deliveries": 200, "schema": 200, "docs": 200} | dict.fromkeys(
        ["assign", "unassign", "cancel", "settle_dispute"], 405
    )


def test_throttled_requests_are_429_with_retry_after(reader: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(UserRateThrottle.THROTTLE_RATES, "user", "1/min")
    cache.clear()

    first = reader.get(COURIERS)
    response = reader.get(COURIERS)

    assert first.status_code == 200
    assert response.status_code == 429
    assert error(response)["code"] == "throttled"
    assert int(response["Retry-After"]) > 0


def test_validation_error_names_each_field_with_its_messages(dispatcher: APIClient) -> None:
    create_courier(phone=NEW["phone"])

    body = error(dispatcher.post(COURIERS, {**NEW, "transport_type": "boat"}, format="json"))

    assert body["code"] == "invalid"
    assert body["fields"] == {
        "phone": ["A courier with this phone already exists."],
        "transport_type": ['"boat" is not a valid choice: use one of on_foot, scooter, car.'],
    }


def test_a_model_validation_error_from_a_service_is_400_naming_the_field(
    dispatcher: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As when a concurrent request takes the phone between the serializer's check and the service's.
    monkeypatch.setattr(UniqueValidator, "__call__", lambda self, value, field: None)
    create_courier(phone=NEW["phone"])

    response = dispatcher.post(COURIERS, NEW, format="json")

    assert response.status_code == 400
    assert set(error(response)["fields"]) == {"phone"}
    assert Courier.objects.count() == 1


# --- the handler itself, for what no request reaches easily ------------------------


@pytest.mark.parametrize(
    ("exc", "status_code", "code", "fields"),
    [
        (DjangoValidationError({"phone": ["Courier with this Phone already exists."]}), 400, "invalid", {"phone"}),
        (DjangoValidationError("bad"), 400, "invalid", {"non_field_errors"}),
        (Conflict("busy", code="courier_busy"), 409, "courier_busy", set()),
        (NotFound("gone", code="courier_not_found"), 404, "courier_not_found", set()),
        (DispatchError("no", code="refused"), 400, "refused", set()),
        (IntegrityError("duplicate key"), 409, "conflict", set()),
        (Http404("secret detail"), 404, "not_found", set()),
    ],
)
def test_the_handler_maps_our_exceptions(exc: Exception, status_code: int, code: str, fields: set[str]) -> None:
    response = exception_handler(exc, {})

    assert response is not None
    assert response.status_code == status_code
    assert response.data["error"]["code"] == code
    assert set(response.data["error"]["fields"]) == fields
    assert "secret" not in response.data["error"]["message"]


def test_the_handler_leaves_bugs_to_django() -> None:
    assert exception_handler(ZeroDivisionError(), {}) is None
