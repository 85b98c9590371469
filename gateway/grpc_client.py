"""OrderClient over gRPC: service-order's OrdersService.GetOrderById, with the HTTP client's retries and rules.

What an answer means (service-order.md): NOT_FOUND, or exactly UNKNOWN "not found" (what the reference
returns), is not found; UNAVAILABLE, DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED are retried, then service-order
is down; refused credentials and UNIMPLEMENTED (not service-order at that address) are down until fixed;
anything else is this order's failure.
"""

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from django.conf import settings

from gateway.answers import checked_status, excerpt
from gateway.order_ids import InvalidOrderId, order_id_error
from gateway.orders import BadOrderAnswer, Order, OrderNotFound, OrderServiceUnavailable
from gateway.proto.orders_v1_pb2 import GetOrderByIdRequest, GetOrderByIdResponse
from gateway.proto.orders_v1_pb2_grpc import OrdersServiceStub
from gateway.retry import AttemptReport, full_jitter

logger = logging.getLogger(__name__)

RETRY_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
)
CREDENTIAL_CODES = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED})


class GrpcOrderClient:
    def __init__(
        self,
        *,
        target: str,
        tls: bool = False,
        token: str = "",
        allow_insecure_token: bool = False,
        deadline: float = 10.0,
        retries: int = 3,
        backoff_base: float = 0.2,
        backoff_max: float = 5.0,
        ca_bundle: str = "",
        client_cert: str = "",
        client_key: str = "",
        sleep: Callable[[float], None] = time.sleep,
        on_attempt: AttemptReport | None = None,
    ) -> None:
        if token and not tls and not allow_insecure_token:
            raise ValueError(
                "ORDER_SERVICE_TOKEN would be sent in clear over gRPC: set ORDER_SERVICE_GRPC_TLS=true, or "
                "ORDER_SERVICE_ALLOW_INSECURE_TOKEN=true on a trusted network"
            )
        self.target = target
        self.deadline = deadline
        self.retries = retries
        self.backoff = (backoff_base, backoff_max)
        self.sleep = sleep
        self.on_attempt = on_attempt
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._channel = _channel(target, tls=tls, ca_bundle=ca_bundle, client_cert=client_cert, client_key=client_key)
        self._get = OrdersServiceStub(self._channel).GetOrderById

    @classmethod
    def from_settings(cls, **overrides: Any) -> "GrpcOrderClient":
        options = {
            "target": settings.ORDER_SERVICE_GRPC_TARGET,
            "tls": settings.ORDER_SERVICE_GRPC_TLS,
            "token": settings.ORDER_SERVICE_TOKEN,
            "allow_insecure_token": settings.ORDER_SERVICE_ALLOW_INSECURE_TOKEN,
            "deadline": settings.ORDER_SERVICE_DEADLINE,
            "retries": settings.ORDER_SERVICE_RETRIES,
            "backoff_base": settings.ORDER_SERVICE_BACKOFF_BASE,
            "backoff_max": settings.ORDER_SERVICE_BACKOFF_MAX,
            "ca_bundle": settings.ORDER_SERVICE_CA_BUNDLE,
            "client_cert": settings.ORDER_SERVICE_CLIENT_CERT,
            "client_key": settings.ORDER_SERVICE_CLIENT_KEY,
        }
        return cls(**{**options, **overrides})

    def close(self) -> None:
        self._channel.close()

    def get_order(self, order_id: str) -> Order:
        if (error := order_id_error(order_id)) is not None:  # the one rule, as over HTTP: never sent
            raise InvalidOrderId(f"order id {order_id!r} refused: {error}")
        request = GetOrderByIdRequest(id=order_id)
        retry = 0
        while True:
            retry += 1
            started = time.monotonic()
            try:
                response = self._get(request, timeout=self.deadline, metadata=self._metadata)
            except grpc.RpcError as exc:
                code = exc.code()
                self._report(code, started)
                if code not in RETRY_CODES or retry > self.retries:
                    raise self._failure(code, exc.details(), order_id) from None
                self.sleep(full_jitter(retry, base=self.backoff[0], cap=self.backoff[1]))
                continue
            self._report(grpc.StatusCode.OK, started)
            return order_from_response(response, order_id)

    def _report(self, code: grpc.StatusCode, started: float) -> None:
        if self.on_attempt is not None:
            self.on_attempt(code.name, time.monotonic() - started)

    def _failure(self, code: grpc.StatusCode, details: str | None, order_id: str) -> Exception:
        if code is grpc.StatusCode.NOT_FOUND or (code is grpc.StatusCode.UNKNOWN and details == "not found"):
            return OrderNotFound(f"order {order_id!r} not found at service-order")
        said = f"{code.name} {excerpt((details or '').encode())}"
        if code in RETRY_CODES:
            return OrderServiceUnavailable(
                f"service-order unavailable for order {order_id!r} after {self.retries + 1} tries: {said}"
            )
        if code in CREDENTIAL_CODES:
            return OrderServiceUnavailable(f"service-order refused our credentials ({said}): check ORDER_SERVICE_TOKEN")
        if code is grpc.StatusCode.UNIMPLEMENTED:
            # Whatever listens there does not serve OrdersService: no order's answer, an outage until fixed.
            logger.error("%s does not serve orders.v1.OrdersService: check ORDER_SERVICE_GRPC_TARGET", self.target)
            return OrderServiceUnavailable(
                f"{self.target} does not serve OrdersService: check ORDER_SERVICE_GRPC_TARGET"
            )
        return BadOrderAnswer(f"service-order failed order {order_id!r}: {said}")


def order_from_response(response: GetOrderByIdResponse, order_id: str) -> Order:
    """The order of a GetOrderById answer; BadOrderAnswer without a usable status."""
    order = response.order
    return Order(
        id=order.id or order_id,
        status=checked_status(order.status, order_id),
        created_at=_time(order, "created_at"),
        updated_at=_time(order, "updated_at"),
    )


def _time(order: Any, field: str) -> datetime | None:
    if not order.HasField(field):
        return None
    try:
        return getattr(order, field).ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None  # outside what a datetime holds


def _channel(target: str, *, tls: bool, ca_bundle: str, client_cert: str, client_key: str) -> grpc.Channel:
    if not tls:
        return grpc.insecure_channel(target)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=Path(ca_bundle).read_bytes() if ca_bundle else None,
        private_key=Path(client_key or client_cert).read_bytes() if client_cert else None,
        certificate_chain=Path(client_cert).read_bytes() if client_cert else None,
    )
    return grpc.secure_channel(target, credentials)
