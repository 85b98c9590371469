"""Pages outside the API during a database outage: a short 503, not a 500 with a traceback per request."""

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from couriers.database import UNREACHABLE

logger = logging.getLogger(__name__)


class DatabaseOutageMiddleware:
    """The admin (and any other non-API view) answers 503 while the database cannot be reached.

    The API answers the same in its own error shape (couriers.api.errors); DRF handles those exceptions
    before any middleware sees them.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, UNREACHABLE):
            return None
        logger.warning("database unavailable for %s %s: %s", request.method, request.path, exception)
        return HttpResponse(
            "Service unavailable: the database does not answer. Try again in a moment.\n",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
