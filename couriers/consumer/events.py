"""Validation of order.status.changed events: trust their shape no more than their content."""

import json
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from gateway.order_ids import validate_order_id

MAX_STATUS_LENGTH = 64


@dataclass(frozen=True)
class OrderEvent:
    order_id: str
    status: str


class MalformedEvent(ValueError):
    """The message is not an order event; the message says why (it goes to the dead-letter topic)."""


def parse_event(value: bytes | None, *, max_bytes: int) -> OrderEvent:
    if not value:
        raise MalformedEvent("empty message")
    if len(value) > max_bytes:
        raise MalformedEvent(f"event of {len(value)} bytes is over the limit of {max_bytes} bytes")
    try:
        data = json.loads(value)
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too, and so is an integer of 5,000 digits
        raise MalformedEvent(f"not JSON: {exc}") from exc
    except RecursionError as exc:  # arrays or objects nested a thousand deep: a few kilobytes suffice
        raise MalformedEvent("not JSON this service reads: nested too deep") from exc
    if not isinstance(data, dict):
        raise MalformedEvent(f"not a JSON object but a {type(data).__name__}")
    return OrderEvent(order_id=_order_id(data.get("order_id")), status=_status(data.get("status")))


def _order_id(value: object) -> str:
    if not isinstance(value, str):
        raise MalformedEvent("order_id is missing or not a string")
    try:
        validate_order_id(value)  # the API's rule too
    except ValidationError as exc:
        raise MalformedEvent(f"order_id is malformed: {' '.join(exc.messages)}") from exc
    return value


def _status(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MalformedEvent("status is missing or not a non-empty string")
    if len(value) > MAX_STATUS_LENGTH:
        raise MalformedEvent(f"status is longer than {MAX_STATUS_LENGTH} characters")
    if not value.isprintable():
        # A newline in it would forge lines in text logs.
        raise MalformedEvent("status has characters that are not printable")
    return value
