"""BatchRunner: a whole-world failure (service-order, the database) told from one order's failure."""

import threading

import pytest
from django.db import IntegrityError, OperationalError

from couriers.consumer.batch import OUTAGE_STREAK, BatchRunner, Verdict
from couriers.services import EventResult, Outcome
from gateway.orders import BadOrderAnswer, OrderRequestRejected, OrderServiceUnavailable

OK = EventResult(Outcome.UNCHANGED, "cooking")


class Service:
    """The handler: an error per order id, else a result; records what it was asked."""

    def __init__(self, errors: dict[str, Exception] | None = None, down: bool = False) -> None:
        self.errors = errors or {}
        self.down = down
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, *, order_id: str, event_statuses: list[str]) -> EventResult:
        with self.lock:
            self.calls.append(order_id)
        if self.down:
            raise OrderServiceUnavailable("connection refused")
        if order_id in self.errors:
            raise self.errors[order_id]
        return OK


def runner(service: Service, *, concurrency: int = 1, answers: bool = True, database_up: bool = True) -> BatchRunner:
    return BatchRunner(
        service,
        concurrency=concurrency,
        service_probe=lambda order_id: answers,
        database_probe=lambda: database_up,
    )


def orders(*ids: str) -> dict[str, list[str]]:
    return {order_id: ["created"] for order_id in ids}


def verdicts(outcome) -> dict[str, Verdict]:
    return {order_id: handled.verdict for order_id, handled in outcome.handled.items()}


@pytest.mark.parametrize("concurrency", [1, 4])
def test_one_order_failing_while_others_are_answered_is_that_orders_failure(concurrency):
    service = Service({"bad": BadOrderAnswer("garbage"), "slow": OrderServiceUnavailable("timeout")})

    outcome = runner(service, concurrency=concurrency, answers=False).run(orders("a", "bad", "b", "slow", "c"))

    assert verdicts(outcome) == {"a": "done", "bad": "failed", "b": "done", "slow": "failed", "c": "done"}
    assert outcome.service_down is None
    assert isinstance(outcome.handled["bad"].error, BadOrderAnswer)


def test_every_call_failing_is_service_order_down_and_stops_the_batch():
    service = Service(down=True)

    outcome = runner(service, answers=False).run(orders(*"abcdef"))

    assert isinstance(outcome.service_down, OrderServiceUnavailable)
    assert set(verdicts(outcome).values()) == {Verdict.LATER}
    assert len(service.calls) == OUTAGE_STREAK, "once service-order is down, the rest is not tried"


def test_a_batch_of_only_a_poison_order_is_its_failure_when_service_order_still_answers():
    first = runner(Service())
    first.run(orders("good"))  # service-order answered for "good": the probe asks for it
    first.handle = Service({"bad": BadOrderAnswer("garbage")})

    outcome = first.run(orders("bad"))

    assert verdicts(outcome) == {"bad": "failed"}
    assert outcome.service_down is None


def test_a_batch_of_only_failures_with_nothing_to_probe_is_taken_as_an_outage():
    outcome = runner(Service({"bad": BadOrderAnswer("garbage")})).run(orders("bad"))

    assert verdicts(outcome) == {"bad": "later"}
    assert outcome.service_down is not None


def test_the_probe_decides_when_the_batch_had_no_answer():
    service = Service()
    down = runner(service, answers=False)
    down.run(orders("good"))
    down.handle = Service(down=True)

    outcome = down.run(orders("x"))

    assert outcome.service_down is not None


def test_an_unexpected_error_or_a_data_error_is_the_orders_failure():
    service = Service({"bug": KeyError("x"), "data": IntegrityError("duplicate key")})

    outcome = runner(service).run(orders("a", "bug", "data"))

    assert verdicts(outcome) == {"a": "done", "bug": "failed", "data": "failed"}


def test_a_lost_connection_with_the_database_still_answering_is_the_orders_failure():
    service = Service({"x": OperationalError("deadlock detected")})

    outcome = runner(service, database_up=True).run(orders("a", "x"))

    assert verdicts(outcome) == {"a": "done", "x": "failed"}
    assert outcome.database_down is None


def test_the_database_down_leaves_the_whole_batch_for_later_and_counts_nothing():
    service = Service({"a": KeyError("bug"), "b": OperationalError("server closed the connection")})

    outcome = runner(service, database_up=False).run(orders("a", "b", "c", "d"))

    assert isinstance(outcome.database_down, OperationalError)
    assert set(verdicts(outcome).values()) == {Verdict.LATER}
    assert service.calls == ["a", "b"], "once the database is down, the rest is not tried"


def test_an_order_id_service_order_refuses_is_rejected():
    outcome = runner(Service({"x": OrderRequestRejected("400")})).run(orders("x"))

    assert verdicts(outcome) == {"x": "rejected"}
    assert outcome.service_down is None
