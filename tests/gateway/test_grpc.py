"""GrpcOrderClient over real gRPC: against the simulator's OrdersService, and a scripted one for odd answers."""

import uuid
from collections.abc import Callable, Iterator
from concurrent import futures
from datetime import UTC, datetime

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.grpc_client import GrpcOrderClient, order_from_response
from gateway.order_ids import InvalidOrderId
from gateway.orders import (
    RETRY_LATER,
    STATUS_MAX_LENGTH,
    BadOrderAnswer,
    OrderNotFound,
    OrderServiceUnavailable,
)
from gateway.proto import orders_v1_pb2 as pb
from gateway.proto.orders_v1_pb2_grpc import OrdersServiceServicer, add_OrdersServiceServicer_to_server
from sandbox.simulator import Simulator
from tests.gateway.scripted_service import refused_url

OID = "6f1c0c9e-4a3b-4c1e-9a57-2b8f5d1e7a10"


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator(seed=5, grpc_port=0, token="") as simulator:
        yield simulator


def make_client(target: str, sleep, **kwargs) -> GrpcOrderClient:
    options = {"target": target, "retries": 2, "backoff_base": 0.2, "backoff_max": 5.0, "sleep": sleep}
    return GrpcOrderClient(**{**options, **kwargs})


# --- against the simulator ----------------------------------------------------------------------


def test_an_order_is_read(simulator, sleep):
    order_id = simulator.create_order()
    simulator.freeze()

    order = make_client(simulator.grpc_target, sleep).get_order(order_id)

    assert order.id == order_id
    assert order.status == simulator.store.status(order_id)
    assert order.created_at is not None
    assert order.created_at.tzinfo is not None
    assert simulator.requests().by_status == {200: 1}


def test_an_unknown_order_is_not_found_as_the_reference_says_it(simulator, sleep):
    # UNKNOWN "not found", not NOT_FOUND: the reference returns its use case's plain error.
    with pytest.raises(OrderNotFound):
        make_client(simulator.grpc_target, sleep).get_order(str(uuid.uuid4()))

    assert sleep.delays == []


def test_a_deleted_order_is_not_found(simulator, sleep):
    order_id = simulator.create_order()
    simulator.delete(order_id)

    with pytest.raises(OrderNotFound):
        make_client(simulator.grpc_target, sleep).get_order(order_id)


def test_an_outage_is_retried_then_unavailable(simulator, sleep):
    simulator.outage(60)
    attempts = []

    with pytest.raises(OrderServiceUnavailable) as excinfo:
        make_client(simulator.grpc_target, sleep, on_attempt=lambda code, s: attempts.append(code)).get_order(OID)

    assert "after 3 tries: UNAVAILABLE" in str(excinfo.value)
    assert len(sleep.delays) == 2
    assert attempts == ["UNAVAILABLE"] * 3


def test_a_malformed_id_is_that_orders_failure(simulator, sleep):
    with pytest.raises(BadOrderAnswer) as excinfo:
        make_client(simulator.grpc_target, sleep).get_order("not-a-uuid")

    assert "INVALID_ARGUMENT" in str(excinfo.value)
    assert sleep.delays == []


def test_the_token_is_sent_as_bearer_metadata(sleep):
    with Simulator(seed=5, grpc_port=0, token="s3cret") as simulator:
        order_id = simulator.create_order()
        right = make_client(simulator.grpc_target, sleep, token="s3cret", allow_insecure_token=True)
        wrong = make_client(simulator.grpc_target, sleep, token="other", allow_insecure_token=True)

        assert right.get_order(order_id).id == order_id
        with pytest.raises(OrderServiceUnavailable, match="check ORDER_SERVICE_TOKEN"):
            wrong.get_order(order_id)


def test_a_token_in_clear_is_refused():
    with pytest.raises(ValueError, match="ORDER_SERVICE_GRPC_TLS"):
        GrpcOrderClient(target="127.0.0.1:1", token="s3cret")


def test_nothing_listening_is_unavailable(sleep):
    target = refused_url().removeprefix("http://")

    with pytest.raises(OrderServiceUnavailable):
        make_client(target, sleep, retries=1).get_order(OID)

    assert len(sleep.delays) == 1


@pytest.mark.parametrize("order_id", ["", "..", "123/items", "a b"])
def test_an_id_breaking_the_rule_is_refused_without_a_call(simulator, sleep, order_id):
    with pytest.raises(InvalidOrderId):
        make_client(simulator.grpc_target, sleep).get_order(order_id)

    assert simulator.requests().total == 0


# --- against a scripted OrdersService -------------------------------------------------------------

Behaviour = Callable[[pb.GetOrderByIdRequest, grpc.ServicerContext], pb.GetOrderByIdResponse]


class _Scripted(OrdersServiceServicer):
    def __init__(self) -> None:
        self.script: list[Behaviour] = []
        self.calls = 0

    def GetOrderById(self, request, context):
        self.calls += 1
        behaviour = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        return behaviour(request, context)


@pytest.fixture
def scripted() -> Iterator[tuple[_Scripted, str]]:
    servicer = _Scripted()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    add_OrdersServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(grace=None).wait()


def fails(code: grpc.StatusCode, details: str) -> Behaviour:
    return lambda request, context: context.abort(code, details)


def answers(**order) -> Behaviour:
    return lambda request, context: pb.GetOrderByIdResponse(order=pb.Order(**order))


NOT_FOUNDS = {
    "not-found": fails(grpc.StatusCode.NOT_FOUND, "no such order"),
    "unknown-not-found": fails(grpc.StatusCode.UNKNOWN, "not found"),
}


@pytest.mark.parametrize("behaviour", NOT_FOUNDS.values(), ids=NOT_FOUNDS.keys())
def test_not_found(scripted, sleep, behaviour):
    servicer, target = scripted
    servicer.script = [behaviour]

    with pytest.raises(OrderNotFound):
        make_client(target, sleep).get_order(OID)

    assert servicer.calls == 1


ORDERS_FAILURES = {
    "unknown-other": fails(grpc.StatusCode.UNKNOWN, "database is gone"),
    "unknown-not-found-capitalised": fails(grpc.StatusCode.UNKNOWN, "Not found"),
    "unknown-not-found-longer": fails(grpc.StatusCode.UNKNOWN, "not found: order"),
    "internal": fails(grpc.StatusCode.INTERNAL, "boom"),
    "invalid-argument": fails(grpc.StatusCode.INVALID_ARGUMENT, "bad id"),
    "no-order": lambda request, context: pb.GetOrderByIdResponse(),
    "empty-status": answers(id=OID, status=""),
    "newline-status": answers(id=OID, status="cooking\nforged"),
    "too-long-status": answers(id=OID, status="c" * (STATUS_MAX_LENGTH + 1)),
}


@pytest.mark.parametrize("behaviour", ORDERS_FAILURES.values(), ids=ORDERS_FAILURES.keys())
def test_anything_else_is_that_orders_failure(scripted, sleep, behaviour):
    servicer, target = scripted
    servicer.script = [behaviour]

    with pytest.raises(BadOrderAnswer) as excinfo:
        make_client(target, sleep).get_order(OID)

    assert isinstance(excinfo.value, RETRY_LATER)
    assert "\n" not in str(excinfo.value)
    assert servicer.calls == 1
    assert sleep.delays == []


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED])
def test_a_retryable_failure_then_the_answer(scripted, sleep, code):
    servicer, target = scripted
    servicer.script = [fails(code, "busy"), answers(id=OID, status="cooking")]

    assert make_client(target, sleep).get_order(OID).status == "cooking"
    assert servicer.calls == 2
    assert len(sleep.delays) == 1


def test_an_answer_past_the_deadline_is_retried_then_unavailable(scripted, sleep):
    servicer, target = scripted
    release = futures.Future()
    servicer.script = [lambda request, context: release.result(timeout=5) or pb.GetOrderByIdResponse()]

    with pytest.raises(OrderServiceUnavailable, match="DEADLINE_EXCEEDED"):
        make_client(target, sleep, deadline=0.2, retries=1).get_order(OID)
    release.set_result(None)

    assert servicer.calls == 2


def test_not_service_order_at_the_target_is_an_outage(scripted, sleep, caplog):
    servicer, target = scripted
    servicer.script = [fails(grpc.StatusCode.UNIMPLEMENTED, "unknown service")]

    with pytest.raises(OrderServiceUnavailable, match="ORDER_SERVICE_GRPC_TARGET"):
        make_client(target, sleep).get_order(OID)

    assert any("ORDER_SERVICE_GRPC_TARGET" in r.getMessage() for r in caplog.records)


def test_the_request_carries_the_id_as_it_is(scripted, sleep):
    servicer, target = scripted
    seen = []
    servicer.script = [
        lambda request, context: seen.append(request.id) or pb.GetOrderByIdResponse(order=pb.Order(status="cooking"))
    ]

    order = make_client(target, sleep).get_order("A-1001_x")

    assert seen == ["A-1001_x"]
    assert order.id == "A-1001_x"  # no id in the answer: the one asked for


# --- the answer's message -----------------------------------------------------------------------


def test_timestamps_are_aware_and_an_unset_one_is_none():
    response = pb.GetOrderByIdResponse(order=pb.Order(id=OID, status="cooking"))
    response.order.created_at.FromDatetime(datetime(2025, 8, 6, 12, 0, tzinfo=UTC))

    order = order_from_response(response, OID)

    assert order.created_at == datetime(2025, 8, 6, 12, 0, tzinfo=UTC)
    assert order.updated_at is None


@given(
    status=st.text(max_size=40),
    order_id=st.text(max_size=20),
    seconds=st.integers(-(2**63), 2**63 - 1),
    nanos=st.integers(-(2**31), 2**31 - 1),
)
def test_any_message_is_an_order_or_a_bad_answer(status, order_id, seconds, nanos):
    response = pb.GetOrderByIdResponse(order=pb.Order(id=order_id, status=status))
    response.order.updated_at.seconds = seconds
    response.order.updated_at.nanos = nanos

    try:
        order = order_from_response(response, "asked")
    except BadOrderAnswer:
        return
    assert order.status == status
    assert order.id == (order_id or "asked")
