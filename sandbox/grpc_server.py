"""service-order's gRPC read API (orders.v1.OrdersService.GetOrderById), served from the HTTP server's OrderStore.

As the reference answers: an unknown or deleted order is UNKNOWN "not found" (not NOT_FOUND); an outage is
UNAVAILABLE. Requests are counted under the HTTP status that means the same, so the simulator's request
figures add up over both transports. Poison orders get the HTTP API's trouble as gRPC can carry it: an order
without a status ("malformed"); UNKNOWN with a message other than "not found", as the reference's other
failures ("error"); an answer held past the caller's deadline ("hang", "trickle").
"""

import threading
import time
from collections import Counter
from concurrent import futures
from dataclasses import dataclass
from datetime import datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.proto import orders_v1_pb2 as pb
from gateway.proto.orders_v1_pb2_grpc import OrdersServiceServicer, add_OrdersServiceServicer_to_server
from sandbox.chaos import HANG_SECONDS, TRICKLE_SECONDS, Outages, Poisons
from sandbox.http_server import UUID_PATTERN, RequestStats
from sandbox.latency import ResponseDelay
from sandbox.orders import OrderStore

WORKERS = 256  # calls answered at once: a few consumers at CONSUMER_CONCURRENCY (64), as the HTTP server takes them


@dataclass(frozen=True)
class _Failure:
    status: int  # the HTTP status of the same meaning, the one it is counted under
    code: grpc.StatusCode
    details: str


OUTAGE = _Failure(503, grpc.StatusCode.UNAVAILABLE, "service unavailable (simulated outage)")
REFUSED_TOKEN = _Failure(401, grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
NOT_A_UUID = _Failure(400, grpc.StatusCode.INVALID_ARGUMENT, "invalid order id: not a UUID")
NOT_FOUND = _Failure(404, grpc.StatusCode.UNKNOWN, "not found")  # the reference's plain error
# Any other error the reference's handler returns is UNKNOWN too, with its own message.
FAILED = _Failure(500, grpc.StatusCode.UNKNOWN, "simulated failure of this order")


class _Orders(OrdersServiceServicer):
    def __init__(self, store: OrderStore, outages: Outages, poisons: Poisons, token: str) -> None:
        self.store = store
        self.outages = outages
        self.poisons = poisons
        self.token = token
        self.delay = ResponseDelay()
        self.counts: Counter[int] = Counter()
        self.asked: Counter[str] = Counter()  # calls by order id (lower case)
        self.lock = threading.Lock()

    def GetOrderById(self, request: pb.GetOrderByIdRequest, context: grpc.ServicerContext) -> pb.GetOrderByIdResponse:
        delay = self.delay.draw()
        if delay:
            time.sleep(delay)
        outcome = self._refusal(request.id, context) or self._answer(request.id, context)
        failed = isinstance(outcome, _Failure)
        with self.lock:
            self.counts[outcome.status if failed else 200] += 1
        if failed:
            context.abort(outcome.code, outcome.details)
        return outcome

    def _refusal(self, order_id: str, context: grpc.ServicerContext) -> _Failure | None:
        if self.outages.active():
            return OUTAGE
        if self.token and ("authorization", f"Bearer {self.token}") not in context.invocation_metadata():
            return REFUSED_TOKEN
        if not UUID_PATTERN.fullmatch(order_id):
            return NOT_A_UUID
        return None

    def _answer(self, order_id: str, context: grpc.ServicerContext) -> pb.GetOrderByIdResponse | _Failure:
        with self.lock:
            self.asked[order_id.lower()] += 1
        poison = self.poisons.of(order_id)
        if poison == "malformed":
            return pb.GetOrderByIdResponse(order=pb.Order(id=order_id))  # an answer without a status
        if poison == "error":
            return FAILED
        if poison == "hang":
            _hold(context, HANG_SECONDS)
        order = self.store.view(order_id.lower())
        if order is None:
            return NOT_FOUND
        answer = pb.GetOrderByIdResponse(order=_message(order))
        if poison == "trickle":
            # gRPC hands a unary answer over whole: trickled bytes would reach the caller as one answer, this late.
            _hold(context, TRICKLE_SECONDS * answer.ByteSize())
        return answer


def _hold(context: grpc.ServicerContext, seconds: float) -> None:
    """Wait `seconds`, or less if the call ends first: its deadline passed, its caller left, the server stopped."""
    ended = threading.Event()
    if context.add_callback(ended.set):  # False: the call has already ended
        ended.wait(seconds)


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
    """The gRPC API on its own threads: `OrderGrpcServer(store, outages, poisons).start().target`."""

    def __init__(
        self,
        store: OrderStore,
        outages: Outages,
        poisons: Poisons,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = "",
    ) -> None:
        self._orders = _Orders(store, outages, poisons, token)
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

    def asked(self, order_id: str) -> int:
        """How many calls asked for this order."""
        with self._orders.lock:
            return self._orders.asked[order_id.lower()]

    def stats(self) -> RequestStats:
        with self._orders.lock:
            return RequestStats(sum(self._orders.counts.values()), dict(self._orders.counts))
