"""One rule for order ids, in events as in the API (whose answers tests/couriers/test_api_deliveries.py checks)
and in the gateway (tests/gateway/test_http.py)."""

import json
import string

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from couriers.consumer.events import MalformedEvent, parse_event
from gateway.http import order_path
from gateway.order_ids import MAX_LENGTH, order_id_error, validate_order_id

ALPHABET = string.ascii_letters + string.digits + "-_"
GOOD = ["6f1c0c9e-4a3b-4c1e-9a57-2b8f5d1e7a10", "A-1", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "V1St_GXR8-Z5jdHi6B", "x" * 255]
BAD = [
    "",
    "   ",
    "x" * 256,
    "a\nb",
    "a\x00b",
    "a\u2028b",
    ".",
    "..",
    "a.b",
    "123/items",
    "../../internal/admin",
    "%2F",
    "a b",
    "заказ-7",
    "a?b",
    "a#b",
    "a\\b",
]
TEMPLATE = "/public/api/v1/order/{order_id}"


def event(order_id: object) -> bytes:
    return json.dumps({"order_id": order_id, "status": "cooking"}).encode()


@pytest.mark.parametrize("order_id", GOOD)
def test_a_good_order_id_passes_everywhere(order_id: str) -> None:
    validate_order_id(order_id)

    assert parse_event(event(order_id), max_bytes=65536).order_id == order_id
    assert order_path(TEMPLATE, order_id) == f"/public/api/v1/order/{order_id}"


@pytest.mark.parametrize("order_id", BAD)
def test_a_bad_order_id_is_refused_everywhere(order_id: str) -> None:
    with pytest.raises(ValidationError):
        validate_order_id(order_id)
    with pytest.raises(MalformedEvent, match="order_id"):
        parse_event(event(order_id), max_bytes=65536)
    with pytest.raises(ValueError, match="refused"):
        order_path(TEMPLATE, order_id)


@pytest.mark.parametrize("order_id", [None, 42, ["A-1"]])
def test_an_order_id_that_is_not_a_string_is_malformed(order_id: object) -> None:
    with pytest.raises(MalformedEvent, match="order_id is missing or not a string"):
        parse_event(event(order_id), max_bytes=65536)


@given(st.text(alphabet=ALPHABET, min_size=1, max_size=MAX_LENGTH))
def test_every_id_of_the_alphabet_is_accepted_and_sent_as_it_is(order_id: str) -> None:
    assert order_id_error(order_id) is None
    assert parse_event(event(order_id), max_bytes=65536).order_id == order_id
    assert order_path(TEMPLATE, order_id).rsplit("/", 1)[1] == order_id


@given(st.text(min_size=0, max_size=40).filter(lambda value: not value or set(value) - set(ALPHABET)))
def test_an_id_with_any_character_outside_the_alphabet_is_refused_by_events_and_the_gateway(order_id: str) -> None:
    assert order_id_error(order_id) is not None
    with pytest.raises(MalformedEvent, match="order_id"):
        parse_event(event(order_id), max_bytes=65536)
    with pytest.raises(ValueError, match="refused"):
        order_path(TEMPLATE, order_id)
