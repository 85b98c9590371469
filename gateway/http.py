"""OrderClient over HTTP, on urllib3's connection pool directly: keep-alive, timeouts, TLS, retries with jitter.

requests cost 0.19 ms of CPU per call at best (a prepared request through its adapter), urllib3's pool alone
0.12 ms; nothing of requests was needed (no redirects, cookies, proxies or .netrc for a service-to-service GET).
Every attempt also has a deadline (gateway.deadlines): whatever the peer trickles, and wherever, the attempt ends at it.
"""

import logging
import time
from collections.abc import Callable
from typing import Any, NoReturn
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings
from urllib3.exceptions import HTTPError, MaxRetryError, ReadTimeoutError

from gateway import deadlines
from gateway.answers import excerpt, parse_order, service_order_error
from gateway.config import order_service_config_error
from gateway.order_ids import InvalidOrderId, order_id_error
from gateway.orders import (
    BadOrderAnswer,
    Order,
    OrderAnswerTooSlow,
    OrderNotFound,
    OrderRequestRejected,
    OrderServiceUnavailable,
)
from gateway.retry import GatewayRetry, attempt_label, begin_attempt, report_attempt

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Our credentials were refused: nothing about the order is learnt, so the event must wait.
CREDENTIAL_STATUSES = frozenset({401, 403})
MAX_ANSWER_BYTES = 1 << 20  # a whole order is about 1 KB: a bigger body is not an answer
CHUNK_BYTES = 64 * 1024


def order_path(template: str, order_id: str) -> str:
    """The path for one order. Ids that passed gateway.order_ids's rule need no encoding; any other is
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
        deadline: float = 10.0,
        retries: int = 3,
        backoff_base: float = 0.2,
        backoff_max: float = 5.0,
        pool_size: int = 32,
        ca_bundle: str = "",
        client_cert: str = "",
        client_key: str = "",
        sleep: Callable[[float], None] = time.sleep,
        on_attempt: Callable[[str, float], None] | None = None,
    ) -> None:
        error = order_service_config_error(
            url=base_url, path_template=path_template, token=token, allow_insecure_token=allow_insecure_token
        )
        if error:
            raise ValueError(error)
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._base_path = parts.path
        self.path_template = path_template
        self.deadline = deadline
        self.retries = retries
        self.on_attempt = on_attempt
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout, total=deadline)
        self._retry = GatewayRetry(
            total=retries,
            redirect=False,  # a redirect is an answer: never followed
            status_forcelist=RETRY_STATUSES,
            raise_on_status=False,  # the last answer comes back, and says why in the error
            backoff_factor=backoff_base,
            backoff_max=backoff_max,
            retry_after_max=backoff_max,
            sleep=sleep,
            on_attempt=on_attempt,
            deadline=deadline,
        )
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        # Called directly: no proxy from the environment; TLS trusts ca_bundle, else certifi's bundle as before.
        tls = {
            "ca_certs": ca_bundle or certifi.where(),
            "cert_file": client_cert or None,
            "key_file": client_key or None,
        }
        self._pool = urllib3.connection_from_url(
            self.base_url,
            maxsize=pool_size,
            headers=headers,
            retries=self._retry,
            timeout=self._timeout,
            **(tls if parts.scheme == "https" else {}),
        )
        # Shut down at each attempt's deadline, whatever blocks on them (gateway.deadlines).
        self._pool.ConnectionCls = (
            deadlines.WatchedHTTPSConnection if parts.scheme == "https" else deadlines.WatchedHTTPConnection
        )

    @classmethod
    def from_settings(cls, **overrides: Any) -> "HttpOrderClient":
        options = {
            "base_url": settings.ORDER_SERVICE_URL,
            "path_template": settings.ORDER_SERVICE_PATH,
            "token": settings.ORDER_SERVICE_TOKEN,
            "allow_insecure_token": settings.ORDER_SERVICE_ALLOW_INSECURE_TOKEN,
            "connect_timeout": settings.ORDER_SERVICE_CONNECT_TIMEOUT,
            "read_timeout": settings.ORDER_SERVICE_READ_TIMEOUT,
            "deadline": settings.ORDER_SERVICE_DEADLINE,
            "retries": settings.ORDER_SERVICE_RETRIES,
            "backoff_base": settings.ORDER_SERVICE_BACKOFF_BASE,
            "backoff_max": settings.ORDER_SERVICE_BACKOFF_MAX,
            "pool_size": settings.ORDER_SERVICE_POOL_SIZE,
            "ca_bundle": settings.ORDER_SERVICE_CA_BUNDLE,
            "client_cert": settings.ORDER_SERVICE_CLIENT_CERT,
            "client_key": settings.ORDER_SERVICE_CLIENT_KEY,
        }
        return cls(**{**options, **overrides})

    def get_order(self, order_id: str) -> Order:
        target = self._base_path + order_path(self.path_template, order_id)
        if not target.startswith("/") or target.startswith("//"):
            # The bearer token goes wherever the URL points: never let an id move it off service-order.
            raise OrderRequestRejected(f"order id {order_id!r} would take the request off {self._origin}")
        status, body = self._get(target, order_id)
        return self._order_from(status, body, target, order_id)

    def _get(self, target: str, order_id: str) -> tuple[int, bytes]:
        """The final answer after urllib3's retries; OrderServiceUnavailable when there is none worth reading."""
        begin_attempt(self.deadline)
        try:
            # The answer is read here, against the deadline, on a connection it keeps until then.
            response = self._pool.urlopen("GET", target, preload_content=False, release_conn=False)
        except (MaxRetryError, HTTPError) as exc:
            reason = exc.reason if isinstance(exc, MaxRetryError) else exc
            failure = "timeout" if deadlines.finish() else attempt_label(None, reason)
            raise self._unavailable(order_id, failure) from exc
        if response.status in RETRY_STATUSES:
            # urllib3 reported each attempt. The body says nothing: not worth a wait for it to end.
            self._end_attempt(response, keep=False)
            raise self._unavailable(order_id, str(response.status))
        body = self._read_answer(response, order_id)
        report_attempt(self.on_attempt, str(response.status))
        return response.status, body

    def _read_answer(self, response: urllib3.BaseHTTPResponse, order_id: str) -> bytes:
        """The whole body; OrderAnswerTooSlow, whatever was read, if the attempt's deadline came first."""
        failure: Exception | None = None
        try:
            body = self._read_body(response, order_id)
        except (HTTPError, OSError, BadOrderAnswer) as exc:
            body, failure = b"", exc
        if self._end_attempt(response, keep=failure is None):
            report_attempt(self.on_attempt, "timeout")
            raise OrderAnswerTooSlow(
                f"service-order's answer for order {order_id!r} took over {self.deadline:g} s"
            ) from failure
        if failure is None:
            return body
        report_attempt(self.on_attempt, "timeout" if isinstance(failure, ReadTimeoutError) else "request error")
        if isinstance(failure, BadOrderAnswer):
            raise failure
        # The body broke after urllib3 handed the answer over, outside its retries: the event waits.
        raise OrderServiceUnavailable(
            f"service-order's answer for order {order_id!r} broke off: {failure}"
        ) from failure

    def _read_body(self, response: urllib3.BaseHTTPResponse, order_id: str) -> bytes:
        """The whole body, at most MAX_ANSWER_BYTES."""
        chunks: list[bytes] = []
        size = 0
        while chunk := response.read1(CHUNK_BYTES):
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise BadOrderAnswer(f"service-order's answer for order {order_id!r} is over {MAX_ANSWER_BYTES} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _end_attempt(response: urllib3.BaseHTTPResponse, *, keep: bool) -> bool:
        """Ends the attempt, its connection back to the pool (closed unless `keep`); whether the deadline came first."""
        expired = deadlines.finish()  # first: back in the pool, the connection may serve another thread
        if expired or not keep:
            response.close()
        response.release_conn()
        return expired

    def _unavailable(self, order_id: str, failure: str) -> OrderServiceUnavailable:
        return OrderServiceUnavailable(
            f"service-order unavailable for order {order_id!r} after {self.retries + 1} tries: {failure}"
        )

    def _order_from(self, status: int, body: bytes, target: str, order_id: str) -> Order:
        if status == 200:
            return parse_order(body, order_id)
        if status in CREDENTIAL_STATUSES:
            raise OrderServiceUnavailable(
                f"service-order refused our credentials ({status}): check ORDER_SERVICE_TOKEN"
            )
        code = service_order_error(body)
        if code is None or (status == 404 and code != "not_found"):
            self._not_service_order(status, body, target)
        if status == 404:
            raise OrderNotFound(f"order {order_id!r} not found at service-order")
        raise OrderRequestRejected(f"service-order rejected order {order_id!r} ({status}): {excerpt(body)}")

    def _not_service_order(self, status: int, body: bytes, target: str) -> NoReturn:
        """An answer that is not service-order's own (its JSON error body) says nothing about the order.

        A wrong path, an ingress with no route during a deploy (404), a maintenance redirect (302), nginx's 400
        to plain HTTP on an HTTPS port: taken as the order's answer it would cancel or dead-letter every order
        alike, so it is an outage until fixed.
        """
        logger.error(
            "service-order answered %s without its error body at %s%s: check ORDER_SERVICE_URL (%s) and "
            "ORDER_SERVICE_PATH (%s); answer %s",
            status,
            self._origin,
            target,
            self.base_url,
            self.path_template,
            excerpt(body),
        )
        raise OrderServiceUnavailable(
            f"{status} from {self._origin}{target} is not service-order's answer: "
            "check ORDER_SERVICE_URL and ORDER_SERVICE_PATH"
        )
