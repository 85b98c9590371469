"""OrderClient over HTTP: pooled, with timeouts, and urllib3's retries with full-jitter exponential backoff.

Each GET is a copy of one request prepared up front, sent by the session's adapter: requests' Session
machinery (settings merged per call, hooks, a cookie jar) is skipped, and no cookie is kept or sent.
"""

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.utils.dateparse import parse_datetime
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError

from couriers.order_ids import InvalidOrderId, order_id_error
from gateway.config import order_service_config_error
from gateway.orders import (
    STATUS_MAX_LENGTH,
    BadOrderAnswer,
    Order,
    OrderNotFound,
    OrderRequestRejected,
    OrderServiceUnavailable,
)
from gateway.retry import GatewayRetry, attempt_label, attempt_started, report_attempt

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Our credentials were refused: nothing about the order is learnt, so the event must wait.
CREDENTIAL_STATUSES = frozenset({401, 403})


def order_path(template: str, order_id: str) -> str:
    """The path for one order. Ids that passed couriers.order_ids's rule need no encoding; any other is
    refused here, before a request (InvalidOrderId: a bug upstream, never service-order's answer)."""
    if (error := order_id_error(order_id)) is not None:
        raise InvalidOrderId(f"order id {order_id!r} refused: {error}")
    return template.format(order_id=order_id)


class HttpOrderClient:
    def __init__(
        self,
        *,
        base_url: str,
        path_template: str = "/public/api/v1/order/{order_id}",
        token: str = "",
        allow_insecure_token: bool = False,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        retries: int = 3,
        backoff_base: float = 0.2,
        backoff_max: float = 5.0,
        pool_size: int = 32,
        sleep: Callable[[float], None] = time.sleep,
        on_attempt: Callable[[str, float], None] | None = None,
    ) -> None:
        error = order_service_config_error(
            url=base_url, path_template=path_template, token=token, allow_insecure_token=allow_insecure_token
        )
        if error:
            raise ValueError(error)
        self.base_url = base_url.rstrip("/")
        self._origin = _origin(self.base_url)
        self.path_template = path_template
        self.timeout = (connect_timeout, read_timeout)
        self.retries = retries
        self.on_attempt = on_attempt
        retry = GatewayRetry(
            total=retries,
            status_forcelist=RETRY_STATUSES,
            raise_on_status=False,  # the last answer comes back, and says why in the error
            backoff_factor=backoff_base,
            backoff_max=backoff_max,
            retry_after_max=backoff_max,
            sleep=sleep,
            on_attempt=on_attempt,
        )
        self.session = requests.Session()
        # service-order is called directly: no proxy, .netrc or CA bundle from the environment. Reading them
        # again on every call (requests does) was a fifth of the consumer's CPU per order check.
        self.session.trust_env = False
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["Accept"] = "application/json"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        # Every call copies this request (method, the session's headers) and sends it through the adapter.
        # Session.request's per-call preparation (requests 2.34's isinstance checks against Protocols are
        # slow) and Session.send (hooks, the cookie jar) made a GET cost 2.0 ms of CPU instead of 1.6 ms.
        self._request = self.session.prepare_request(requests.Request("GET", self.base_url))

    @classmethod
    def from_settings(cls, **overrides: Any) -> "HttpOrderClient":
        options = {
            "base_url": settings.ORDER_SERVICE_URL,
            "path_template": settings.ORDER_SERVICE_PATH,
            "token": settings.ORDER_SERVICE_TOKEN,
            "allow_insecure_token": settings.ORDER_SERVICE_ALLOW_INSECURE_TOKEN,
            "connect_timeout": settings.ORDER_SERVICE_CONNECT_TIMEOUT,
            "read_timeout": settings.ORDER_SERVICE_READ_TIMEOUT,
            "retries": settings.ORDER_SERVICE_RETRIES,
            "backoff_base": settings.ORDER_SERVICE_BACKOFF_BASE,
            "backoff_max": settings.ORDER_SERVICE_BACKOFF_MAX,
            "pool_size": settings.ORDER_SERVICE_POOL_SIZE,
        }
        return cls(**{**options, **overrides})

    def get_order(self, order_id: str) -> Order:
        url = self.base_url + order_path(self.path_template, order_id)
        if _origin(url) != self._origin:
            # The bearer token goes wherever the URL points: never let an id move it off service-order.
            raise OrderRequestRejected(f"order id {order_id!r} would take the request off {self._origin}")
        return self._order_from(self._get(url, order_id), order_id)

    def _get(self, url: str, order_id: str) -> requests.Response:
        """The final answer after urllib3's retries; OrderServiceUnavailable when there is none worth reading."""
        attempt_started.set(time.monotonic())
        request = self._request.copy()
        try:
            # As Session.request does (same bytes on the wire): decodes order_path's %2E, lowercases the host.
            request.prepare_url(url, None)
            # The adapter follows no redirect and leaves the body unread: read here, for the errors below.
            response = self.session.get_adapter(request.url).send(request, timeout=self.timeout)
            response.content  # noqa: B018
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
            # The body broke after urllib3 handed the answer over, outside its retries: the event waits.
            report_attempt(self.on_attempt, "request error")
            raise OrderServiceUnavailable(f"service-order's answer for order {order_id!r} broke off: {exc}") from exc
        except requests.RequestException as exc:
            raise self._unavailable(order_id, _failure(exc)) from exc
        if response.status_code in RETRY_STATUSES:
            raise self._unavailable(order_id, str(response.status_code))  # urllib3 reported each attempt
        report_attempt(self.on_attempt, str(response.status_code))
        return response

    def _unavailable(self, order_id: str, failure: str) -> OrderServiceUnavailable:
        return OrderServiceUnavailable(
            f"service-order unavailable for order {order_id!r} after {self.retries + 1} tries: {failure}"
        )

    def _order_from(self, response: requests.Response, order_id: str) -> Order:
        status = response.status_code
        if status == 404:
            return self._not_found(response, order_id)
        if status in CREDENTIAL_STATUSES:
            raise OrderServiceUnavailable(
                f"service-order refused our credentials ({status}): check ORDER_SERVICE_TOKEN"
            )
        if status != 200:
            raise OrderRequestRejected(f"service-order rejected order {order_id!r} ({status}): {response.text[:200]}")
        return _parse_order(response, order_id)

    def _not_found(self, response: requests.Response, order_id: str) -> NoReturn:
        """Only service-order's own not-found says the order does not exist.

        Any other 404 (a wrong path, an ingress with no route during a deploy) says nothing about the order:
        taken as "not found" it would cancel every open delivery, so it is an outage until fixed.
        """
        if _is_service_order_not_found(response):
            raise OrderNotFound(f"order {order_id!r} not found at service-order")
        logger.error(
            "service-order answered 404 without its not-found body at %s: check ORDER_SERVICE_URL (%s) and "
            "ORDER_SERVICE_PATH (%s)",
            response.url,
            self.base_url,
            self.path_template,
        )
        raise OrderServiceUnavailable(
            f"404 from {response.url} is not service-order's not-found: check ORDER_SERVICE_URL and ORDER_SERVICE_PATH"
        )


def _parse_order(response: requests.Response, order_id: str) -> Order:
    try:
        body = response.json()
    except ValueError as exc:
        raise BadOrderAnswer(f"service-order answered non-JSON for order {order_id!r}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("status"), str) or not body["status"]:
        raise BadOrderAnswer(f"service-order answered without a status for order {order_id!r}")
    status = body["status"]
    # Stored in a column of STATUS_MAX_LENGTH and written to logs: anything else is not a status.
    if len(status) > STATUS_MAX_LENGTH or not status.isprintable():
        raise BadOrderAnswer(f"service-order answered an impossible status for order {order_id!r}: {status[:40]!r}")
    return Order(
        id=str(body.get("order_id") or body.get("id") or order_id),
        status=status,
        created_at=_timestamp(body.get("created_at")),
        updated_at=_timestamp(body.get("updated_at")),
    )


def _is_service_order_not_found(response: requests.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("code") == "not_found"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None


def _failure(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timeout"
    # After the last retry requests wraps urllib3's MaxRetryError, whose reason is the last failure.
    cause = exc.args[0] if exc.args else None
    return attempt_label(None, cause.reason if isinstance(cause, MaxRetryError) else cause)
