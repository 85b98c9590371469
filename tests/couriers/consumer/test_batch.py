"""BatchRunner: a whole-world failure (service-order, the database) told from one order's failure."""

import threading

import pytest
from django.db import IntegrityError, OperationalError, connection

from couriers.consumer.batch import OUTAGE_STREAK, PROBE_ORDER_ID, BatchRunner, Verdict
from couriers.models import Delivery
from gateway.orders import BadOrderAnswer, OrderRequestRejected, OrderServiceUnavailable
from tests.fakes import ScriptedChecks


def runner(
    service: ScriptedChecks, *, concurrency: int = 1, answers: bool = True, database_up: bool = True
) -> BatchRunner:
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


def test_a_batch_of_only_a_poison_order_is_its_failure_when_service_order_still_answers():
    first = runner(ScriptedChecks())
    first.run(orders("good"))  # service-order answered for "good": the probe asks for it
    first.checks = ScriptedChecks({"bad": BadOrderAnswer("garbage")})

    outcome = first.run(orders("bad"))

    assert verdicts(outcome) == {"bad": "failed"}
    assert outcome.service_down is None


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


def test_an_order_id_service_order_refuses_is_rejected():
    outcome = runner(ScriptedChecks({"x": OrderRequestRejected("400")})).run(orders("x"))

    assert verdicts(outcome) == {"x": "rejected"}
    assert outcome.service_down is None


def test_readings_recorded_together_are_done_without_a_decision_each():
    service = ScriptedChecks()
    service.settles = True

    outcome = runner(service, concurrency=4).run(orders("a", "b", "c"))

    assert verdicts(outcome) == {"a": "done", "b": "done", "c": "done"}
    assert service.applied == []


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


class SlowChecks(ScriptedChecks):
    """Each call to service-order takes 10 s of a fake clock."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def read(self, order_id, event_statuses):
        self.now += 10.0
        return super().read(order_id, event_statuses)


def test_orders_not_started_within_the_batchs_budget_are_left_for_later_and_counted_against_none(caplog):
    service = SlowChecks()
    batch_runner = BatchRunner(service, concurrency=1, service_probe=lambda _: True, budget=25.0, clock=service.clock)

    outcome = batch_runner.run(orders("a", "b", "c", "d", "e"))

    assert verdicts(outcome) == {"a": "done", "b": "done", "c": "done", "d": "later", "e": "later"}
    assert service.read_calls == ["a", "b", "c"]
    assert (outcome.service_down, outcome.database_down) == (None, None)
    assert "batch cut at its time budget (25.0s): 2 orders left for later" in caplog.text
