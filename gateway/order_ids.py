"""The one rule for an order id, wherever one comes in (events, the API) and before one goes out (the gateway).

service-order's ids are UUIDs. We accept a little more, the URL-safe alphabet of base64url (ASCII letters,
digits, '-' and '_'), so that other producers' ids (numbers, ULIDs, nanoids, `A-1001`) pass too. Nothing in
it is special in a URL path, a log line or SQL: no '/', '%', '.', space or control character can move a
request off its path segment (with our bearer token) or forge a log line. At most 255 characters, the
column's size.
"""

import re

from django.core.exceptions import ValidationError

MAX_LENGTH = 255
ALPHABET = "ASCII letters, digits, '-' and '_'"
_ORDER_ID = re.compile(r"[A-Za-z0-9_-]+")


class InvalidOrderId(ValueError):
    """An id that breaks the rule reached a place that should only ever see ids that passed it."""


def order_id_error(value: str) -> str | None:
    """What is wrong with `value` as an order id, or None if nothing is."""
    if not value:
        return "An order id is not empty."
    if len(value) > MAX_LENGTH:
        return f"An order id has at most {MAX_LENGTH} characters."
    if not _ORDER_ID.fullmatch(value):
        return f"An order id has only {ALPHABET}."
    return None


def validate_order_id(value: str) -> None:
    """Raise ValidationError saying what is wrong with `value` as an order id."""
    if (error := order_id_error(value)) is not None:
        raise ValidationError(error, code="invalid")
