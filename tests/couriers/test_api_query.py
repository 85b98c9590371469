"""Query strings: an unknown or repeated parameter is a 400 naming the valid ones, never silently ignored."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from tests.couriers.factories import create_courier, create_delivery

pytestmark = pytest.mark.django_db

DELIVERY_PARAMETERS = "status, courier, order_id, overdue, disputed, ordering, page, page_size"
COURIER_PARAMETERS = "status, transport_type, search, ordering, page, page_size"


def fields(response) -> dict[str, list[str]]:
    assert response.status_code == 400, response.content
    return response.json()["error"]["fields"]


@pytest.mark.parametrize("param", ["courier_id", "order", "search", "limit", "offset"])
def test_an_unknown_parameter_of_the_deliveries_is_a_400_naming_the_valid_ones(reader: APIClient, param: str) -> None:
    create_delivery(courier=create_courier())

    assert fields(reader.get("/api/v1/deliveries/", {param: "2"})) == {
        param: [f"Unknown query parameter: use one of {DELIVERY_PARAMETERS}."]
    }


def test_an_unknown_parameter_of_the_couriers_names_search_among_the_valid_ones(reader: APIClient) -> None:
    assert fields(reader.get("/api/v1/couriers/", {"name": "Ann"})) == {
        "name": [f"Unknown query parameter: use one of {COURIER_PARAMETERS}."]
    }


def test_a_repeated_parameter_is_a_400_not_the_last_value(reader: APIClient) -> None:
    response = reader.get("/api/v1/deliveries/?status=assigned&status=awaiting_courier")

    assert fields(response) == {"status": ["Give this parameter once: it takes one value."]}


def test_an_endpoint_without_parameters_says_it_takes_none(reader: APIClient) -> None:
    courier = create_courier()

    response = reader.get(f"/api/v1/couriers/{courier.pk}/", {"expand": "deliveries"})

    assert fields(response) == {"expand": ["Unknown query parameter: this endpoint takes none."]}


def test_a_write_with_an_unknown_parameter_changes_nothing(dispatcher: APIClient) -> None:
    response = dispatcher.post("/api/v1/couriers/?dry_run=1", {"name": "A"}, format="json")

    assert "dry_run" in fields(response)


def test_the_valid_parameters_and_format_are_taken(reader: APIClient) -> None:
    query = {"status": "assigned", "courier": 1, "order_id": "x", "overdue": "false", "ordering": "id"}

    response = reader.get("/api/v1/deliveries/", {**query, "page": 1, "page_size": 5, "format": "json"})

    assert response.status_code == 200


def test_the_unknown_parameter_is_checked_after_authentication(anonymous: APIClient) -> None:
    assert anonymous.get("/api/v1/deliveries/", {"courier_id": 2}).status_code == 401


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(min_size=1, max_size=20).filter(lambda n: n not in {*DELIVERY_PARAMETERS.split(", "), "format"}))
def test_any_other_parameter_name_is_refused_by_name(reader: APIClient, name: str) -> None:
    assert list(fields(reader.get("/api/v1/deliveries/", {name: "1"}))) == [name]
