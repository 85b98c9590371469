"""Any body service-order sends is an order or one of the gateway's own exceptions: properties, then examples."""

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.answers import decode_json, excerpt, parse_order, service_order_error
from gateway.orders import STATUS_MAX_LENGTH, BadOrderAnswer

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
ORDER_KEYS = st.sampled_from(["status", "id", "order_id", "created_at", "updated_at", "code", "message"])
ORDER_LIKE = st.dictionaries(ORDER_KEYS | st.text(max_size=5), JSON, max_size=6)
ENCODINGS = st.sampled_from(["utf-8", "utf-16", "utf-16-le", "utf-32", "latin-1"])


@st.composite
def bodies(draw) -> bytes:
    """What could come back: JSON of any shape in several encodings, deep nesting, long numbers, any bytes."""
    kind = draw(st.sampled_from(["json", "order", "deep", "number", "bytes"]))
    if kind == "deep":
        depth = draw(st.integers(1, 200_000))
        return b'{"status": "cooking", "x": ' * draw(st.booleans()) + b"[" * depth + b"]" * draw(st.integers(0, depth))
    if kind == "number":
        return b'{"status": "cooking", "n": ' + b"9" * draw(st.integers(1, 10_000)) + b"}"
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    value = draw(JSON if kind == "json" else ORDER_LIKE)
    try:
        return json.dumps(value, ensure_ascii=draw(st.booleans())).encode(draw(ENCODINGS))
    except UnicodeEncodeError:
        return json.dumps(value).encode()


@given(bodies())
@settings(max_examples=300, deadline=None)
def test_any_body_is_an_order_or_a_bad_answer(body):
    try:
        order = parse_order(body, "requested")
    except BadOrderAnswer:
        return
    assert 0 < len(order.status) <= STATUS_MAX_LENGTH
    assert order.status.isprintable()
    assert isinstance(order.id, str)
    assert order.id


@given(bodies())
@settings(max_examples=300, deadline=None)
def test_any_body_is_service_orders_error_or_not(body):
    code = service_order_error(body)

    assert code is None or (isinstance(code, str) and code)


@given(bodies())
@settings(max_examples=300, deadline=None)
def test_decode_json_raises_only_value_error(body):
    with contextlib.suppress(ValueError):
        decode_json(body)


@given(st.binary(max_size=2000) | st.text(max_size=500).map(str.encode))
def test_an_excerpt_is_one_short_line(body):
    quoted = excerpt(body)

    assert "\n" not in quoted
    assert "\r" not in quoted
    assert quoted.isprintable()
    assert len(quoted) <= 4 * 200 + 2


@given(
    status=st.text(min_size=1, max_size=STATUS_MAX_LENGTH).filter(str.isprintable),
    order_id=st.text(min_size=1, max_size=50),
    encoding=st.sampled_from(["utf-8", "utf-16", "utf-32"]),
)
def test_a_well_formed_answer_is_read_whatever_its_status_text_and_encoding(status, order_id, encoding):
    body = json.dumps({"order_id": order_id, "status": status}, ensure_ascii=False).encode(encoding)

    order = parse_order(body, "requested")

    assert (order.id, order.status) == (order_id, status)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"code": "not_found", "message": "not found"}', "not_found"),
        (b'{"code": "bad_request", "message": ""}', "bad_request"),
        (b'{"code": "not_found"}', None),
        (b'{"code": "", "message": "x"}', None),
        (b'{"code": 404, "message": "x"}', None),
        (b'["not_found"]', None),
        (b"404 page not found", None),
        (b"[" * 100_000, None),
    ],
)
def test_service_orders_error_body(body, code):
    assert service_order_error(body) == code


def test_deep_nesting_is_a_bad_answer_not_a_recursion_error():
    with pytest.raises(BadOrderAnswer, match="non-JSON"):
        parse_order(b"[" * 100_000 + b"]" * 100_000, "o-1")


def test_an_excerpt_escapes_line_breaks():
    assert excerpt(b"a\r\nb") == repr("a\r\nb")
