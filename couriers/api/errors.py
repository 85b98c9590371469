"""The API's one error shape, applied in one place: {"error": {"code", "message", "fields"}}."""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from couriers.database import UNREACHABLE
from couriers.errors import Conflict, DispatchError, NotFound
from gateway.orders import BadOrderAnswer, OrderServiceUnavailable

logger = logging.getLogger(__name__)

# Every `error.code` the API answers, with what it means: the schema publishes them as an enum.
ERROR_CODES = {
    "invalid": "a field or query parameter is invalid; `error.fields` says which and why",
    "parse_error": "the body is not valid JSON",
    "request_too_large": "the body is larger than the server accepts",
    "unsupported_media_type": "the body is neither JSON nor a form",
    "not_authenticated": "no credentials",
    "authentication_failed": "invalid credentials",
    "permission_denied": "the user lacks the permission this write needs",
    "not_found": "the path is not one of the API's",
    "courier_not_found": "no courier with this id",
    "delivery_not_found": "no delivery with this id, or the order has none",
    "order_not_found": "service-order has no such order",
    "method_not_allowed": "the path does not take this method",
    "not_acceptable": "the Accept header asks for something other than JSON",
    "precondition_failed": "If-Match does not name the current ETag",
    "courier_busy": "the courier is on a delivery",
    "courier_has_deliveries": "a courier with deliveries is paused, not deleted",
    "invalid_status": "a status the client may not set",
    "order_not_active": "the order is not active at service-order",
    "delivery_finished": "the delivery is already completed or cancelled",
    "delivery_not_disputed": "the delivery is not disputed: no announced end waits for a decision",
    "delivery_not_assigned": "the delivery waits for a courier: there is none to take off",
    "conflict": "a concurrent change won: retry",
    "throttled": "too many requests: retry after Retry-After seconds",
    "bad_order_answer": "service-order answered with something that is not an order",
    "order_service_unavailable": "service-order is unavailable: try again later",
    "database_unavailable": "the database is unavailable: try again later",
}


class ApiError(exceptions.APIException):
    """An APIException with our own code and status."""

    def __init__(self, message: str, *, code: str, status_code: int) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code


# The gateway's messages name internal URLs and settings: the client gets a fixed one, the log the rest.
_GATEWAY_ERRORS: list[tuple[type[Exception], int, str, str]] = [
    (OrderServiceUnavailable, 503, "order_service_unavailable", "service-order is unavailable: try again later"),
    (BadOrderAnswer, 502, "bad_order_answer", "service-order answered with something that is not an order"),
]


def _as_api_exception(exc: Exception) -> Exception:
    """Translate the exceptions our layers raise into DRF's; anything else is left as it is."""
    if isinstance(exc, Conflict):
        return ApiError(exc.message, code=exc.code, status_code=status.HTTP_409_CONFLICT)
    if isinstance(exc, NotFound):
        return ApiError(exc.message, code=exc.code, status_code=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, DispatchError):
        return ApiError(exc.message, code=exc.code, status_code=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        # full_clean in a service: the same 400 a serializer would give.
        return exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, RequestDataTooBig):
        return ApiError("the request body is too large", code="request_too_large", status_code=413)
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, UNREACHABLE):
        logger.warning("database unavailable: %s", exc)  # the outage, not this request: no traceback
        return ApiError("the database is unavailable: try again later", code="database_unavailable", status_code=503)
    if isinstance(exc, IntegrityError):
        # A constraint lost a race against a concurrent request (e.g. the same phone twice).
        logger.warning("integrity error answered as 409: %s", exc)
        return ApiError("the request conflicts with a concurrent change: retry", code="conflict", status_code=409)
    for kind, status_code, code, message in _GATEWAY_ERRORS:
        if isinstance(exc, kind):
            logger.warning("service-order failed: %s", exc)
            return ApiError(message, code=code, status_code=status_code)
    return exc


def _messages(detail: Any) -> list[str]:
    if isinstance(detail, dict):
        return [message for value in detail.values() for message in _messages(value)]
    if isinstance(detail, list):
        return [message for item in detail for message in _messages(item)]
    return [str(detail)]


def _error_body(exc: exceptions.APIException) -> dict[str, Any]:
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        fields = {name: _messages(value) for name, value in detail.items()}
        return {"code": "invalid", "message": "The request has invalid fields.", "fields": fields}
    code = exc.detail.code if isinstance(exc.detail, exceptions.ErrorDetail) else exc.default_code
    return {"code": code, "message": str(exc.detail), "fields": {}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: every error the API answers goes through here."""
    exc = _as_api_exception(exc)
    response = drf_exception_handler(exc, context)  # keeps DRF's headers and transaction rollback
    if response is not None and isinstance(exc, exceptions.APIException):
        response.data = {"error": _error_body(exc)}
    return response
