"""The one rule for an order id we accept from a client: service-order's ids are opaque, but they reach
our logs, URLs and a 255-character column, so they must fit it and be printable (no newline can forge a
log line, no NUL reaches the database)."""

from django.core.exceptions import ValidationError

MAX_LENGTH = 255


def validate_order_id(value: str) -> None:
    """Raise ValidationError saying what is wrong with `value` as an order id."""
    if not value.strip():
        raise ValidationError("An order id is not empty nor only spaces.", code="blank")
    if len(value) > MAX_LENGTH:
        raise ValidationError(f"An order id has at most {MAX_LENGTH} characters.", code="max_length")
    if not value.isprintable():
        raise ValidationError("An order id has only printable characters (no control characters).", code="printable")
