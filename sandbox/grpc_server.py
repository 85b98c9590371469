"""service-order's gRPC read API (orders.v1.OrdersService.GetOrderById), served from the HTTP server's OrderStore.

As the reference answers: an unknown or deleted order is UNKNOWN "not found" (not NOT_FOUND); an outage is
UNAVAILABLE. Requests are counted under the HTTP status that means the same, so the simulator's request
figures add up over both transports.
"""

import threading
import time
from collections import Counter
from concurrent import futures
from datetime import datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.proto import orders_v1_pb2 as pb
from gateway.proto.orders_v1_pb2_grpc import OrdersServiceServicer, add_OrdersServiceServicer_to_server
from sandbox.chaos import Outages
from sandbox.http_server import UUID_PATTERN, RequestStats
from sandbox.latency import ResponseDelay
from sandbox.orders import OrderStore

WORKERS = 64  # calls answered at once: a consumer's CONSUMER_CONCURRENCY, and then some


class _Orders(OrdersServiceServicer):
    def __init__(self, store: OrderStore, outages: Outages, token: str) -> None:
        self.store = store
        self.outages = outages
        self.token = token
        self.delay = ResponseDelay()
        self.counts: Counter[int] = Counter()
        self.lock = threading.Lock()

    def GetOrderById(self, request: pb.GetOrderByIdRequest, context: grpc.ServicerContext) -> pb.GetOrderByIdResponse:
        delay = self.delay.draw()
        if delay:
            time.sleep(delay)
        status, code, message = self._refusal(request.id, context)
        order = None if code else self.store.view(request.id.lower())
        if not code and order is None:
            status, code, message = 404, grpc.StatusCode.UNKNOWN, "not found"  # the reference's plain error
        with self.lock:
            self.counts[status] += 1
        if code:
            context.abort(code, message)
        return pb.GetOrderByIdResponse(order=_message(order))

    def _refusal(self, order_id: str, context: grpc.ServicerContext) -> tuple[int, grpc.StatusCode | None, str]:
        if self.outages.active():
            return 503, grpc.StatusCode.UNAVAILABLE, "service unavailable (simulated outage)"
        if self.token and ("authorization", f"Bearer {self.token}") not in context.invocation_metadata():
            return 401, grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token"
        if not UUID_PATTERN.fullmatch(order_id):
            return 400, grpc.StatusCode.INVALID_ARGUMENT, "invalid order id: not a UUID"
        return 200, None, ""


def _message(order: dict) -> pb.Order:
    address = order.get("address", {})
    return pb.Order(
        id=order["id"],
        user_id=order.get("user_id", ""),
        order_number=order.get("order_number", ""),
        fio=order.get("fio", ""),
        restaurant_id=order.get("restaurant_id", ""),
        items=[pb.Item(name=i["name"], price=i["price"], quantity=i["quantity"]) for i in order.get("items", [])],
        total_price=order.get("total_price", 0),
        address=pb.DeliveryAddress(street=address.get("street", ""), house=address.get("house", "")),
        status=order["status"],
        created_at=_timestamp(order["created_at"]),
        updated_at=_timestamp(order["updated_at"]),
        estimated_delivery=_timestamp(order["estimated_delivery"]),
    )


def _timestamp(rfc3339: str) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")))
    return stamp


class OrderGrpcServer:
    """The gRPC API on its own threads: `OrderGrpcServer(store, outages).start().target`."""

    def __init__(
        self, store: OrderStore, outages: Outages, *, host: str = "127.0.0.1", port: int = 0, token: str = ""
    ) -> None:
        self._orders = _Orders(store, outages, token)
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="sandbox-grpc"))
        add_OrdersServiceServicer_to_server(self._orders, self._server)
        self._host = host
        self._port = self._server.add_insecure_port(f"{host}:{port}")

    @property
    def target(self) -> str:
        return f"{self._host}:{self._port}"

    def start(self) -> "OrderGrpcServer":
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None).wait()

    def set_latency(self, median_seconds: float, seed: int | None = None) -> None:
        """From now on every answer comes after a delay of this median (p99 five times it); 0 for none."""
        self._orders.delay = ResponseDelay(median_seconds, seed)

    def stats(self) -> RequestStats:
        with self._orders.lock:
            return RequestStats(sum(self._orders.counts.values()), dict(self._orders.counts))
