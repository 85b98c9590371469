"""One rule for order ids, in events as in the API (whose answers tests/couriers/test_api_deliveries.py checks)."""

import json

import pytest
from django.core.exceptions import ValidationError

from couriers.consumer.events import MalformedEvent, parse_event
from couriers.order_ids import validate_order_id

GOOD = ["6f1c0c9e-4a3b-4c1e-9a57-2b8f5d1e7a10", "A-1", "заказ 7", "a/b", "x" * 255]
BAD = ["", "   ", "x" * 256, "a\nb", "a\rb", "a\x00b", "a\tb", "a\x1b[31mb", "a\u2028b"]


def event(order_id: object) -> bytes:
    return json.dumps({"order_id": order_id, "status": "cooking"}).encode()


@pytest.mark.parametrize("order_id", GOOD)
def test_a_good_order_id_passes_everywhere(order_id: str) -> None:
    validate_order_id(order_id)

    assert parse_event(event(order_id), max_bytes=65536).order_id == order_id


@pytest.mark.parametrize("order_id", BAD)
def test_a_bad_order_id_is_refused_everywhere(order_id: str) -> None:
    with pytest.raises(ValidationError):
        validate_order_id(order_id)
    with pytest.raises(MalformedEvent, match="order_id"):
        parse_event(event(order_id), max_bytes=65536)


@pytest.mark.parametrize("order_id", [None, 42, ["A-1"]])
def test_an_order_id_that_is_not_a_string_is_malformed(order_id: object) -> None:
    with pytest.raises(MalformedEvent, match="order_id is missing or not a string"):
        parse_event(event(order_id), max_bytes=65536)
