"""Throttling that also counts requests without valid credentials, by the client's one address rule."""

from django.http import HttpRequest
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, BaseThrottle, UserRateThrottle
from rest_framework.views import APIView


def client_address(request: HttpRequest | Request) -> str:
    """The client's address by REST_FRAMEWORK["NUM_PROXIES"], for the API's throttles and the login lockout
    (settings.AXES_CLIENT_IP_CALLABLE) alike."""
    return BaseThrottle().get_ident(request)


class ThrottleUnauthenticatedFirst:
    """DRF checks permissions before throttles: a request without valid credentials got its 401 uncounted,
    so guessing tokens cost nothing. Count it under the anonymous rate, by address, before that 401."""

    def perform_authentication(self, request: Request) -> None:
        try:
            authenticated = request.user.is_authenticated
        except AuthenticationFailed:
            self._throttle_by_address(request)  # the request is anonymous from here on
            raise
        if not authenticated:
            self._throttle_by_address(request)

    def _throttle_by_address(self, request: Request) -> None:
        throttle = AnonRateThrottle()
        if not throttle.allow_request(request, self):
            self.throttled(request, throttle.wait())


class SearchRateThrottle(UserRateThrottle):
    """Searches scan the couriers table: per user, a rate of their own (API_SEARCH_THROTTLE_RATE), far below the
    rate of plain reads. Requests without `search` are not counted."""

    scope = "search"

    def allow_request(self, request: Request, view: APIView) -> bool:
        if not request.query_params.get("search"):
            return True
        return super().allow_request(request, view)
