"""Event validation: what is not an order event is refused with a reason."""

import json
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from couriers.consumer.events import MalformedEvent, OrderEvent, parse_event
from gateway.order_ids import MAX_LENGTH

ORDER_ID_CHARACTERS = string.ascii_letters + string.digits + "-_"


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


# --- no bytes kill a consumer: each is an event or a MalformedEvent --------------------------------

MAX_BYTES = 65536


def parsed_or_refused(value: bytes) -> OrderEvent | MalformedEvent:
    try:
        return parse_event(value, max_bytes=MAX_BYTES)
    except MalformedEvent as exc:
        return exc


@pytest.mark.parametrize(
    "value",
    [
        b"[" * 2000 + b"]" * 2000,
        b'{"a":' * 2000 + b"1" + b"}" * 2000,
        b'{"order_id": "a-1", "status": "created", "extra": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    ],
    ids=["nested-array", "nested-object", "nested-inside-an-event"],
)
def test_deep_nesting_is_malformed_not_a_crash(value):
    with pytest.raises(MalformedEvent, match="nested too deep"):
        parse_event(value, max_bytes=MAX_BYTES)


def test_a_huge_integer_is_malformed():
    with pytest.raises(MalformedEvent, match="not JSON"):
        parse_event(b'{"order_id": "a-1", "status": "created", "n": ' + b"9" * 5000 + b"}", max_bytes=MAX_BYTES)


@given(st.binary(max_size=4096))
def test_any_bytes_are_an_event_or_malformed(value):
    assert isinstance(parsed_or_refused(value), OrderEvent | MalformedEvent)


@given(st.integers(min_value=1, max_value=20_000), st.sampled_from(["[", '{"k":']))
def test_any_depth_is_an_event_or_malformed(depth, opener):
    closer = "]" if opener == "[" else "}"
    value = (opener * depth + "0" + closer * depth).encode()
    assert isinstance(parsed_or_refused(value), MalformedEvent)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
)


@given(
    st.dictionaries(
        st.sampled_from(["order_id", "status", "created_at", "other"]), json_values | st.text(max_size=300)
    ),
    st.sampled_from(["utf-8", "utf-16", "utf-16-le", "utf-32", "utf-8-sig"]),
)
def test_any_json_object_in_any_encoding_is_an_event_or_malformed(fields, encoding):
    result = parsed_or_refused(json.dumps(fields).encode(encoding))
    if isinstance(result, OrderEvent):
        assert (result.order_id, result.status) == (fields["order_id"], fields["status"])


@given(st.text(alphabet=ORDER_ID_CHARACTERS, min_size=1, max_size=MAX_LENGTH), st.sampled_from(["created", "x"]))
def test_every_valid_event_is_read_in_any_encoding(order_id, status):
    for encoding in ("utf-8", "utf-16", "utf-32"):
        value = json.dumps({"order_id": order_id, "status": status}, ensure_ascii=False).encode(encoding)
        assert parse_event(value, max_bytes=MAX_BYTES) == OrderEvent(order_id, status)
