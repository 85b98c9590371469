"""The simulator's gRPC API: poison orders, as the project's gRPC client sees them, over real sockets."""

import time
from collections.abc import Iterator

import grpc
import pytest
import requests

from gateway.grpc_client import GrpcOrderClient
from gateway.orders import BadOrderAnswer, OrderServiceUnavailable
from gateway.proto import orders_v1_pb2 as pb
from gateway.proto.orders_v1_pb2_grpc import OrdersServiceStub
from sandbox import grpc_server
from sandbox.simulator import Simulator


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator(seed=3, grpc_port=0) as simulator:
        yield simulator


class Attempts(list[str]):
    """The code each attempt of a client ended with."""

    def __call__(self, code: str, seconds: float) -> None:
        self.append(code)


@pytest.fixture
def attempts() -> Attempts:
    return Attempts()


def client(simulator: Simulator, attempts: Attempts, **kwargs) -> GrpcOrderClient:
    options = {"retries": 1, "sleep": lambda seconds: None, "on_attempt": attempts}
    return GrpcOrderClient(target=simulator.grpc_target, **{**options, **kwargs})


def call(simulator: Simulator, order_id: str, timeout: float = 5) -> pb.GetOrderByIdResponse:
    stub = OrdersServiceStub(grpc.insecure_channel(simulator.grpc_target))
    return stub.GetOrderById(pb.GetOrderByIdRequest(id=order_id), timeout=timeout)


def test_a_malformed_poison_order_answers_ok_without_a_status(simulator, order_id, attempts):
    simulator.poison(order_id, "malformed")

    answer = call(simulator, order_id)

    assert answer.order.id == order_id
    assert answer.order.status == ""
    with pytest.raises(BadOrderAnswer, match="without a status"):
        client(simulator, attempts).get_order(order_id)
    assert attempts == ["OK"]


def test_an_error_poison_order_fails_unknown_for_good_on_both_apis(simulator, order_id, attempts):
    simulator.poison(order_id, "error")

    with pytest.raises(grpc.RpcError) as raw:
        call(simulator, order_id)
    with pytest.raises(BadOrderAnswer, match="UNKNOWN"):
        client(simulator, attempts).get_order(order_id)
    http = requests.get(f"{simulator.url}/public/api/v1/order/{order_id}", timeout=5)

    assert raw.value.code() is grpc.StatusCode.UNKNOWN
    assert raw.value.details() != "not found"  # that one is not found, this is the order's failure
    assert attempts == ["UNKNOWN"], "not retried"
    assert http.status_code == 500
    assert simulator.asked(order_id) == 3
    assert simulator.requests().by_status == {500: 3}


def test_a_hanging_poison_order_passes_every_deadline_while_others_answer(simulator, order_id, attempts):
    other = simulator.create_order()
    simulator.poison(order_id, "hang")
    hanging = client(simulator, attempts, deadline=0.3)

    with pytest.raises(OrderServiceUnavailable, match="after 2 tries: DEADLINE_EXCEEDED"):
        hanging.get_order(order_id)

    assert attempts == ["DEADLINE_EXCEEDED"] * 2
    assert hanging.get_order(other).status == "created"
    assert simulator.asked(order_id) == 2


def test_a_hanging_call_ends_when_the_server_stops(simulator, order_id):
    simulator.poison(order_id, "hang")
    stub = OrdersServiceStub(grpc.insecure_channel(simulator.grpc_target))
    pending = stub.GetOrderById.future(pb.GetOrderByIdRequest(id=order_id), timeout=30)
    while not simulator.asked(order_id):
        time.sleep(0.01)
    started = time.monotonic()

    simulator.grpc.stop()

    assert pending.exception(timeout=5).code() in {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}
    assert time.monotonic() - started < 5


def test_a_trickle_poison_order_answers_too_late_for_the_deadline(simulator, order_id, attempts):
    simulator.poison(order_id, "trickle")

    with pytest.raises(OrderServiceUnavailable, match="DEADLINE_EXCEEDED"):
        client(simulator, attempts, deadline=1, retries=0).get_order(order_id)

    assert attempts == ["DEADLINE_EXCEEDED"]


def test_a_trickled_answer_comes_whole_after_a_pause_per_byte(simulator, order_id, attempts, monkeypatch):
    monkeypatch.setattr(grpc_server, "TRICKLE_SECONDS", 0.002)
    simulator.poison(order_id, "trickle")
    started = time.monotonic()

    answer = call(simulator, order_id)

    assert answer.order.status == "created"
    assert time.monotonic() - started >= 0.002 * answer.ByteSize()
