"""What service-order's answers mean: an order, or one of the gateway's own exceptions, whatever the body.

Nothing here knows how the answer was fetched: an HTTP status code and body's bytes, or a status string.
"""

import json
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from gateway.orders import STATUS_MAX_LENGTH, BadOrderAnswer, Order

EXCERPT_CHARS = 200  # of an upstream body quoted in an error message


def decode_json(body: bytes) -> Any:
    """The JSON value of `body`, or ValueError: never the decoder's other failures.

    json.loads raises RecursionError on deep nesting, ValueError on an integer of more than 4,300 digits,
    UnicodeDecodeError on bytes of no encoding it knows: to the caller, all are "not JSON".
    """
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON: {type(exc).__name__}") from None


def parse_order(body: bytes, order_id: str) -> Order:
    """The order in a 200 answer's body; BadOrderAnswer if it holds none."""
    try:
        answer = decode_json(body)
    except ValueError:
        raise BadOrderAnswer(f"service-order answered non-JSON for order {order_id!r}") from None
    status = checked_status(answer.get("status") if isinstance(answer, dict) else None, order_id)
    return Order(
        id=_answered_id(answer) or order_id,
        status=status,
        created_at=_timestamp(answer.get("created_at")),
        updated_at=_timestamp(answer.get("updated_at")),
    )


def checked_status(status: Any, order_id: str) -> str:
    """`status` if it can be an order's status; BadOrderAnswer if not."""
    if not isinstance(status, str) or not status:
        raise BadOrderAnswer(f"service-order answered without a status for order {order_id!r}")
    # Stored in a column of STATUS_MAX_LENGTH and written to logs: anything else is not a status.
    if len(status) > STATUS_MAX_LENGTH or not status.isprintable():
        raise BadOrderAnswer(f"service-order answered an impossible status for order {order_id!r}: {status[:40]!r}")
    return status


def service_order_error(body: bytes) -> str | None:
    """The code of service-order's own error body (`{"code": ..., "message": ...}`), or None if it is not one.

    Only that body says service-order itself refused: an ingress, a proxy or a maintenance page sends others.
    """
    try:
        answer = decode_json(body)
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    code, message = answer.get("code"), answer.get("message")
    return code if isinstance(code, str) and code and isinstance(message, str) else None


def excerpt(body: bytes) -> str:
    """The start of an upstream body, quoted for one log line: a CR or LF in it cannot forge another line."""
    return repr(body[: EXCERPT_CHARS * 4].decode("utf-8", "replace")[:EXCERPT_CHARS])


def _answered_id(answer: dict[str, Any]) -> str | None:
    """`order_id` (the short status answer), else `id` (the whole order); only a string is an id."""
    for key in ("order_id", "id"):
        value = answer.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None
