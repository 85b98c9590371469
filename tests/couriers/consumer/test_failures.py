"""OrderFailures: attempts counted in the database, given up at the limit, forgotten once done."""

import logging

import pytest
from django.db import OperationalError

from couriers import metrics
from couriers.consumer.dead_letters import ATTEMPTS, LAST_ERROR
from couriers.consumer.failures import OrderFailures
from couriers.models import OrderFailure
from gateway.orders import BadOrderAnswer

pytestmark = pytest.mark.django_db


def test_an_order_is_given_up_at_the_limit_with_its_attempts_and_last_error(caplog):
    failures = OrderFailures(max_attempts=3)
    given_up = metrics.GAVE_UP._value.get()

    assert failures.count("a", BadOrderAnswer("no status")) is None
    assert failures.count("a", BadOrderAnswer("no status")) is None
    with caplog.at_level(logging.ERROR):
        give_up = failures.count("a", BadOrderAnswer("not JSON"))

    assert give_up is not None
    assert give_up.reason == "gave up after 3 failed attempts"
    assert dict(give_up.headers) == {ATTEMPTS: b"3", LAST_ERROR: b"BadOrderAnswer: not JSON"}
    assert metrics.GAVE_UP._value.get() == given_up + 1
    assert "order a gave up after 3 attempts" in caplog.text


def test_the_count_survives_a_restart():
    OrderFailures(max_attempts=2).count("a", KeyError("x"))

    assert OrderFailures(max_attempts=2).count("a", KeyError("x")) is not None  # a new process, the same count


def test_orders_done_with_start_from_zero_again():
    failures = OrderFailures(max_attempts=2)
    failures.count("a", KeyError("x"))
    failures.count("b", KeyError("x"))

    failures.clear(["a"])

    assert failures.count("a", KeyError("x")) is None
    assert OrderFailure.objects.get(order_id="b").attempts == 1


def test_an_attempt_the_database_cannot_record_is_retried_not_given_up(monkeypatch):
    def refuse(**_: object) -> int:
        raise OperationalError("the database went away")

    monkeypatch.setattr("couriers.consumer.failures.order_failure_record", refuse)

    assert OrderFailures(max_attempts=1).count("a", KeyError("x")) is None
