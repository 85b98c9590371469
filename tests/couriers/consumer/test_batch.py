"""BatchRunner: a whole-world failure (service-order, the database) told from one order's failure."""

import threading
from collections.abc import Iterator

import pytest
from django.db import IntegrityError, OperationalError, connection

from couriers.consumer.batch import OUTAGE_STREAK, BatchRunner, ServiceChecks, Verdict
from couriers.database import database_answers
from couriers.models import Delivery
from couriers.services import order_read
from gateway.grpc_client import GrpcOrderClient
from gateway.http import HttpOrderClient, order_path
from gateway.orders import (
    PROBE_ORDER_ID,
    BadOrderAnswer,
    Order,
    OrderClient,
    OrderNotFound,
    OrderRequestRejected,
    OrderServiceUnavailable,
    service_answers,
)
from sandbox.simulator import Simulator
from tests.fakes import FakeOrderClient, ScriptedChecks
from tests.gateway.scripted_service import Answer, ScriptedService, scripted_service


def runner(
    service: ScriptedChecks, *, concurrency: int = 1, answers: bool = True, database_up: bool = True
) -> BatchRunner:
    return BatchRunner(
        service,
        concurrency=concurrency,
        service_probe=lambda order_id: answers,
        database_probe=lambda: database_up,
    )


class ServiceOrder(FakeOrderClient):
    """service-order as the gateway shows it: ids under the gateway's own rule (order_path), every order
    "cooking" unless failing, and `down` for every call, the probe's included."""

    def __init__(self, failing: dict[str, Exception] | None = None) -> None:
        super().__init__()
        self.errors = dict(failing or {})
        self.down: Exception | None = None

    def get_order(self, order_id: str) -> Order:
        order_path("/{order_id}", order_id)  # a local refusal, before any call
        if self.down is not None:
            self.calls.append(order_id)
            raise self.down
        if order_id != PROBE_ORDER_ID:  # the one order service-order never has
            self.statuses.setdefault(order_id, "cooking")
        return super().get_order(order_id)


class ReadingChecks(ScriptedChecks):
    """Reads through the real order_read over `client`; decides as ScriptedChecks does."""

    def __init__(self, client: OrderClient) -> None:
        super().__init__()
        self.client = client

    def read(self, order_id, event_statuses, produced_at=None):
        self.read_calls.append(order_id)
        return order_read(order_id=order_id, event_statuses=event_statuses, client=self.client, produced_at=produced_at)


def probed_runner(client: ServiceOrder, **options) -> BatchRunner:
    """A runner whose probe asks the same service-order as its reads do."""
    return BatchRunner(
        ReadingChecks(client),
        concurrency=options.get("concurrency", 1),
        service_probe=lambda order_id: service_answers(client, order_id),
        database_probe=lambda: True,
    )


def orders(*ids: str) -> dict[str, list[str]]:
    return {order_id: ["created"] for order_id in ids}


orders_of = orders  # where a test's `orders` is the fake service-order


def verdicts(outcome) -> dict[str, Verdict]:
    return {order_id: handled.verdict for order_id, handled in outcome.handled.items()}


@pytest.mark.parametrize("concurrency", [1, 4])
def test_one_order_failing_while_others_are_answered_is_that_orders_failure(concurrency):
    service = ScriptedChecks({"bad": BadOrderAnswer("garbage"), "slow": OrderServiceUnavailable("timeout")})

    outcome = runner(service, concurrency=concurrency, answers=False).run(orders("a", "bad", "b", "slow", "c"))

    assert verdicts(outcome) == {"a": "done", "bad": "failed", "b": "done", "slow": "failed", "c": "done"}
    assert outcome.service_down is None
    assert isinstance(outcome.handled["bad"].error, BadOrderAnswer)


def test_every_call_failing_is_service_order_down_and_stops_the_batch():
    service = ScriptedChecks(down=OrderServiceUnavailable("connection refused"))

    outcome = runner(service, answers=False).run(orders(*"abcdef"))

    assert isinstance(outcome.service_down, OrderServiceUnavailable)
    assert set(verdicts(outcome).values()) == {Verdict.LATER}
    assert len(service.read_calls) == OUTAGE_STREAK, "once service-order is down, the rest is not tried"


@pytest.mark.parametrize("concurrency", [1, 4])
def test_poison_orders_failing_in_a_row_first_do_not_stop_a_batch_service_order_still_answers(concurrency):
    poison = {f"poison{i}": BadOrderAnswer("garbage") for i in range(OUTAGE_STREAK)}
    service = ScriptedChecks(poison)
    probed = []
    batch_runner = BatchRunner(
        service, concurrency=concurrency, service_probe=lambda order_id: probed.append(order_id) or True
    )

    outcome = batch_runner.run(orders(*poison, "a", "b", "c"))

    assert verdicts(outcome) == {**dict.fromkeys(poison, Verdict.FAILED), **dict.fromkeys("abc", Verdict.DONE)}
    assert outcome.service_down is None
    if concurrency == 1:
        assert probed[0] == PROBE_ORDER_ID, "asked once the streak was suspect, before any order was answered"


@pytest.mark.parametrize("down", [False, True])
def test_a_batch_of_only_a_poison_order_is_its_failure_when_service_order_still_answers(down):
    service_order = ServiceOrder({"bad": BadOrderAnswer("garbage")})
    batch_runner = probed_runner(service_order)
    batch_runner.run(orders("good"))  # service-order answered for "good": the probe asks for it
    service_order.calls.clear()
    if down:
        service_order.down = OrderServiceUnavailable("connection refused")

    outcome = batch_runner.run(orders("bad"))

    assert service_order.calls == ["bad", "good"]
    assert verdicts(outcome) == {"bad": "later" if down else "failed"}
    assert (outcome.service_down is not None) == down


def test_the_probe_never_asks_the_order_that_is_failing():
    # "good" was answered last, then fails alone: probing it would read "service-order is down", forever.
    service_order = ServiceOrder()
    batch_runner = probed_runner(service_order)
    batch_runner.run(orders("good"))
    service_order.errors["good"] = BadOrderAnswer("garbage")
    service_order.calls.clear()

    first, second = batch_runner.run(orders("good")), batch_runner.run(orders("good"))

    assert service_order.calls == ["good", PROBE_ORDER_ID, "good", PROBE_ORDER_ID]
    assert verdicts(first) == verdicts(second) == {"good": "failed"}
    assert first.service_down is None
    assert second.service_down is None


def test_an_outage_starting_in_the_batchs_last_calls_counts_against_no_order():
    class FallingDown(ServiceOrder):
        def get_order(self, order_id):
            if order_id == "c":  # service-order goes down as "c" is asked, and stays down
                self.down = OrderServiceUnavailable("connection refused")
            return super().get_order(order_id)

    service_order = FallingDown()

    outcome = probed_runner(service_order).run(orders("a", "b", "c"))

    assert verdicts(outcome) == {"a": "done", "b": "done", "c": "later"}
    assert outcome.service_down is not None
    assert service_order.calls[-1] == "b", "the probe asks an order answered in this batch"


def test_a_failure_followed_by_answers_is_the_orders_without_a_probe():
    service_order = ServiceOrder({"a": OrderServiceUnavailable("timeout")})

    outcome = probed_runner(service_order).run(orders("a", "b"))

    assert verdicts(outcome) == {"a": "failed", "b": "done"}
    assert service_order.calls == ["a", "b"]


@pytest.mark.parametrize("order_id", [".", "..", "a/b"])
def test_an_id_the_gateway_refuses_itself_is_no_answer_and_never_the_probes(order_id):
    # The gateway refuses it without a call: service-order down, that is no answer, so the outage is seen.
    service_order = ServiceOrder()
    service_order.down = OrderServiceUnavailable("connection refused")
    batch_runner = probed_runner(service_order)

    outcome = batch_runner.run(orders(order_id, "x"))

    assert verdicts(outcome) == {order_id: "later", "x": "later"}
    assert outcome.service_down is not None
    assert service_order.calls == ["x", PROBE_ORDER_ID]
    assert batch_runner.known_order is None


@pytest.mark.parametrize("answers", [True, False])
def test_before_any_answer_the_probe_asks_for_an_order_that_does_not_exist(answers):
    asked = []
    batch_runner = BatchRunner(
        ScriptedChecks({"bad": BadOrderAnswer("garbage")}),
        concurrency=1,
        service_probe=lambda order_id: asked.append(order_id) or answers,
    )

    outcome = batch_runner.run(orders("bad"))

    assert asked == [PROBE_ORDER_ID]
    assert verdicts(outcome) == {"bad": "failed" if answers else "later"}
    assert (outcome.service_down is None) == answers


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_the_probes_order_is_not_found_so_service_order_answers_over_either_transport(transport):
    with Simulator(grpc_port=0) as simulator:
        client = (
            HttpOrderClient(base_url=simulator.url)
            if transport == "http"
            else GrpcOrderClient(target=simulator.grpc_target)
        )

        with pytest.raises(OrderNotFound):
            client.get_order(PROBE_ORDER_ID)
        assert service_answers(client, PROBE_ORDER_ID)


def test_the_probe_decides_when_the_batch_had_no_answer():
    service = ScriptedChecks()
    down = runner(service, answers=False)
    down.run(orders("good"))
    down.checks = ScriptedChecks(down=OrderServiceUnavailable("connection refused"))

    outcome = down.run(orders("x"))

    assert outcome.service_down is not None


def test_an_unexpected_error_or_a_data_error_is_the_orders_failure():
    service = ScriptedChecks({"bug": KeyError("x"), "data": IntegrityError("duplicate key")})

    outcome = runner(service).run(orders("a", "bug", "data"))

    assert verdicts(outcome) == {"a": "done", "bug": "failed", "data": "failed"}


def test_a_lost_connection_with_the_database_still_answering_is_the_orders_failure():
    service = ScriptedChecks({"x": OperationalError("deadlock detected")})

    outcome = runner(service, database_up=True).run(orders("a", "x"))

    assert verdicts(outcome) == {"a": "done", "x": "failed"}
    assert outcome.database_down is None


def test_the_database_down_leaves_the_whole_batch_for_later_and_counts_nothing():
    service = ScriptedChecks({"a": KeyError("bug"), "b": OperationalError("server closed the connection")})

    outcome = runner(service, database_up=False).run(orders("a", "b", "c", "d"))

    assert isinstance(outcome.database_down, OperationalError)
    assert set(verdicts(outcome).values()) == {Verdict.LATER}
    assert service.applied == ["a", "b"], "once the database is down, the rest is not tried"


def test_an_order_id_service_order_refuses_is_rejected_and_never_the_probes():
    # service-order's own rejection, as the gateway raises it; it says service-order is up.
    service_order = ServiceOrder({"x": OrderRequestRejected("400 bad_request")})
    batch_runner = probed_runner(service_order)

    outcome = batch_runner.run(orders("x"))

    assert verdicts(outcome) == {"x": "rejected"}
    assert outcome.service_down is None
    assert batch_runner.known_order is None


def test_readings_recorded_together_are_done_without_a_decision_each():
    service = ScriptedChecks()
    service.settles = True

    outcome = runner(service, concurrency=4).run(orders("a", "b", "c"))

    assert verdicts(outcome) == {"a": "done", "b": "done", "c": "done"}
    assert service.applied == []


class FirstAnsweredLast(ServiceChecks):
    """The real service calls, but the batch's first order is answered only after every other one."""

    def __init__(self, client: OrderClient, first: str, others: int) -> None:
        super().__init__(client)
        self.first, self.others, self.others_answered = first, others, threading.Semaphore(0)

    def read(self, order_id, event_statuses, produced_at=None):
        if order_id == self.first:
            for _ in range(self.others):
                assert self.others_answered.acquire(timeout=5), "the other orders were never answered"
        reading = super().read(order_id, event_statuses, produced_at)
        if order_id != self.first:
            self.others_answered.release()
        return reading


@pytest.mark.django_db
@pytest.mark.parametrize("concurrency", [1, 4])
def test_couriers_go_to_new_orders_in_the_order_their_events_arrived(concurrency, make_courier):
    arrival = ["o3", "o1", "o4", "o2"]  # the batch's order: its first events' (the loop builds it so)
    service_order = ServiceOrder()
    checks = FirstAnsweredLast(service_order, "o3", others=3 if concurrency > 1 else 0)
    make_courier("A")
    make_courier("B")

    outcome = BatchRunner(checks, concurrency=concurrency).run(orders(*arrival))

    assert set(verdicts(outcome).values()) == {Verdict.DONE}
    assigned = Delivery.objects.filter(status=Delivery.Status.ASSIGNED).values_list("order_id", flat=True)
    assert sorted(assigned) == ["o1", "o3"], "the first two to arrive, though o3 was answered last"
    queue = Delivery.objects.filter(status=Delivery.Status.AWAITING_COURIER).order_by("created_at", "id")
    assert list(queue.values_list("order_id", flat=True)) == ["o4", "o2"], "the rest wait in arrival order"


def test_an_answer_is_decided_while_a_slower_call_is_still_under_way():
    decided_before_slow_returned = threading.Event()

    class SlowOne(ScriptedChecks):
        def read(self, order_id, event_statuses, produced_at=None):
            if order_id == "slow":
                decided_before_slow_returned.wait(5)
            return super().read(order_id, event_statuses, produced_at)

    service = SlowOne()
    service.settles = True  # every reading only recorded: nothing waits for an earlier order

    def on_done(order_id, handled):
        if order_id == "quick":
            decided_before_slow_returned.set()

    outcome = runner(service, concurrency=4).run(orders("slow", "quick"), on_done=on_done)

    assert decided_before_slow_returned.is_set(), "the quick order's decision waited for the slow call"
    assert verdicts(outcome) == {"slow": Verdict.DONE, "quick": Verdict.DONE}


def test_every_order_done_is_told_once():
    service = ScriptedChecks({"bad": BadOrderAnswer("garbage")})
    told = []

    runner(service, concurrency=4).run(orders("a", "bad", "b", "c"), on_done=lambda order_id, h: told.append(order_id))

    assert sorted(told) == ["a", "b", "c"]


def test_readings_that_cannot_be_recorded_together_are_decided_one_by_one(caplog):
    service = ScriptedChecks({"b": IntegrityError("value too long")})
    service.settled_error = IntegrityError("value too long")

    outcome = runner(service, database_up=True).run(orders("a", "b", "c"))

    assert service.applied == ["a", "b", "c"]
    assert verdicts(outcome) == {"a": "done", "b": "failed", "c": "done"}, "only the order that fails alone counts"


def test_the_database_down_while_recording_together_leaves_the_batch_for_later():
    service = ScriptedChecks()
    service.settled_error = OperationalError("server closed the connection")

    outcome = runner(service, database_up=False).run(orders("a", "b"))

    assert isinstance(outcome.database_down, OperationalError)
    assert set(verdicts(outcome).values()) == {Verdict.LATER}
    assert service.applied == []


@pytest.mark.django_db(transaction=True)
def test_workers_decide_the_rest_and_give_their_connection_back_after_each():
    class Querying(ScriptedChecks):
        def apply(self, reading):
            Delivery.objects.count()  # the order's transaction
            return super().apply(reading)

    service = Querying()
    batch_runner = runner(service, concurrency=2)

    outcome = batch_runner.run(orders("a", "b", "c", "d"))

    assert set(verdicts(outcome).values()) == {Verdict.DONE}
    assert sorted(service.applied) == ["a", "b", "c", "d"]
    together = threading.Barrier(2)  # one call on each worker thread

    def holds_a_connection(_: int) -> bool:
        together.wait(timeout=10)
        return connection.connection is not None

    assert list(batch_runner.pool.map(holds_a_connection, range(2))) == [False, False]
    batch_runner.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_loop_thread_holds_no_connection_while_the_workers_decide(pool_of_one, orders, make_courier):
    # One pooled connection: had the loop thread kept it after recording the settled readings, the workers
    # would time out waiting for it, and the probe, waiting on the same pool, would call the database down.
    courier = make_courier()
    orders.set("settled", "cooking")
    ServiceChecks(orders).apply(order_read(order_id="settled", event_statuses=[], client=orders))
    for order_id in ("first", "second", "third"):
        orders.set(order_id, "cooking")
        ServiceChecks(orders).apply(order_read(order_id=order_id, event_statuses=[], client=orders))
    assert Delivery.objects.get(order_id="settled").courier == courier
    batch_runner = BatchRunner(ServiceChecks(orders), concurrency=2)

    outcome = batch_runner.run(orders_of("settled", "first", "second", "third"))

    batch_runner.close()
    assert outcome.database_down is None
    assert set(verdicts(outcome).values()) == {Verdict.DONE}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_database_probe_does_not_wait_on_a_starved_pool(pool_of_one):
    Delivery.objects.count()  # this thread holds the pool's only connection
    answers = []

    probe = threading.Thread(target=lambda: answers.append(database_answers()))
    probe.start()
    probe.join()

    assert answers == [True]


# --- what the batch makes of the gateway's answers, over real HTTP (a scripted service-order) --------------------


@pytest.fixture
def service() -> Iterator[ScriptedService]:
    with scripted_service() as running:
        yield running


def http_runner(service: ScriptedService) -> BatchRunner:
    client = HttpOrderClient(base_url=service.url, retries=0, sleep=lambda seconds: None)
    return BatchRunner(
        ReadingChecks(client),
        concurrency=1,  # the orders are asked in turn: the script's answers go to them in that order
        service_probe=lambda order_id: service_answers(client, order_id),
        database_probe=lambda: True,
    )


def test_service_orders_own_rejection_of_an_id_is_that_orders_alone(service):
    service.answer(
        Answer(status=400, body={"code": "bad_request", "message": "bad id"}), Answer(body={"status": "cooking"})
    )

    outcome = http_runner(service).run(orders("bad", "good"))

    assert verdicts(outcome) == {"bad": "rejected", "good": "done"}
    assert outcome.service_down is None


def test_a_404_that_is_not_service_orders_for_every_order_is_service_order_unreachable(service):
    # An ingress without a route: no order is to blame, every event waits (the gateway's contract:
    # OrderServiceUnavailable for any answer that is not service-order's own).
    service.answer(Answer(status=404, raw=b"<html>no route</html>"))

    outcome = http_runner(service).run(orders("a", "b"))

    assert set(verdicts(outcome).values()) == {Verdict.LATER}
    assert isinstance(outcome.service_down, OrderServiceUnavailable)


class SlowChecks(ScriptedChecks):
    """Each call to service-order takes 10 s of a fake clock."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def read(self, order_id, event_statuses, produced_at=None):
        self.now += 10.0
        return super().read(order_id, event_statuses, produced_at)


def test_orders_not_started_within_the_batchs_budget_are_left_for_later_and_counted_against_none(caplog):
    service = SlowChecks()
    batch_runner = BatchRunner(service, concurrency=1, service_probe=lambda _: True, budget=25.0, clock=service.clock)

    outcome = batch_runner.run(orders("a", "b", "c", "d", "e"))

    assert verdicts(outcome) == {"a": "done", "b": "done", "c": "done", "d": "later", "e": "later"}
    assert service.read_calls == ["a", "b", "c"]
    assert (outcome.service_down, outcome.database_down) == (None, None)
    assert "batch cut at its time budget (25.0s): 2 orders left for later" in caplog.text
