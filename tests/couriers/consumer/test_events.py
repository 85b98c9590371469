"""Event validation: what is not an order event is refused with a reason."""

import json

import pytest

from couriers.consumer.events import MalformedEvent, OrderEvent, parse_event


def event(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_a_well_formed_event_is_read():
    assert parse_event(event(order_id="a-1", status="created"), max_bytes=1024) == OrderEvent("a-1", "created")


@pytest.mark.parametrize("status", ["created\nforged line", "created\r", "tab\there", "bell\x07"])
def test_a_status_that_is_not_printable_is_malformed(status):
    with pytest.raises(MalformedEvent, match="status has characters that are not printable"):
        parse_event(event(order_id="a-1", status=status), max_bytes=1024)


@pytest.mark.parametrize("order_id", ["a\n1", "a\x00", "a/b", "..", "a b"])
def test_an_order_id_outside_the_alphabet_is_malformed(order_id):
    with pytest.raises(MalformedEvent, match=r"order_id is malformed: .*only ASCII letters, digits, '-' and '_'"):
        parse_event(event(order_id=order_id, status="created"), max_bytes=1024)
