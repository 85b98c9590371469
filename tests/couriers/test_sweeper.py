"""The reconcile sweep's own thread: bounded runs, a clean stop, and one line for a database outage."""

import logging
import threading
import time
from datetime import timedelta
from functools import partial

import pytest
from django.db import OperationalError
from django.utils import timezone

from couriers.consumer.sweeper import Sweeper
from couriers.models import Delivery, OrderKnowledge
from couriers.services import deliveries_reconcile, order_event_handle
from tests.db_outage import database_down


def sweeper(sweep, **overrides) -> Sweeper:
    return Sweeper(sweep=sweep, **{"every": 0.01, "time_limit": 60.0, **overrides})


def test_a_run_is_cut_at_its_time_limit(caplog):
    told_to_stop = threading.Event()

    def endless_sweep(*, stop_when):
        give_up = time.monotonic() + 30  # only keeps a broken time limit from hanging the test
        while time.monotonic() < give_up:
            if stop_when():
                told_to_stop.set()
                return

    with caplog.at_level(logging.INFO):
        sweeper(endless_sweep, time_limit=0.05).run_once()

    assert told_to_stop.is_set()
    assert "stopped at its time limit (0.05s)" in caplog.text


def test_stop_ends_the_run_in_hand_between_two_checks():
    started = threading.Event()

    def endless_sweep(*, stop_when):
        started.set()
        while not stop_when():
            started.wait(0.01)

    thread = sweeper(endless_sweep, time_limit=3600)
    thread.start()
    assert started.wait(10), "the sweep never started"

    thread.stop(timeout=10)

    assert not thread.thread.is_alive()


def test_a_failed_run_is_logged_and_the_next_one_comes(caplog):
    runs = []
    second_run = threading.Event()

    def sweep(*, stop_when):
        runs.append(1)
        if len(runs) == 1:
            raise ValueError("a bug in one run")
        second_run.set()

    thread = sweeper(sweep, database_answers=lambda: True)
    thread.start()
    try:
        assert second_run.wait(10), "no run after the failed one"
    finally:
        thread.stop(timeout=10)

    assert "reconcile sweep failed" in caplog.text
    assert "a bug in one run" in caplog.text  # with its traceback: this one is not an outage


def test_a_database_outage_is_said_once_and_its_end_too(caplog):
    database_up = False

    def sweep(*, stop_when):
        if not database_up:
            raise OperationalError("connection refused")

    thread = sweeper(sweep, database_answers=lambda: database_up)
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            thread.run_once()
        database_up = True
        thread.run_once()
        thread.run_once()

    messages = [record.getMessage() for record in caplog.records]
    assert [m for m in messages if "paused" in m] == [
        "reconcile sweep paused: the database does not answer (connection refused); trying every 0.01s"
    ]
    assert [m for m in messages if "resumed" in m] == ["reconcile sweep resumed: the database answers again"]
    assert not any(record.exc_info for record in caplog.records)


@pytest.mark.django_db(transaction=True)
def test_the_real_sweep_pauses_during_a_real_outage_and_catches_up_after(orders, make_courier, caplog):
    make_courier()
    orders.set("a", "cooking")
    order_event_handle(order_id="a", event_status="created", client=orders)
    orders.set("a", "completed")  # the completion event was lost
    OrderKnowledge.objects.update(read_at=timezone.now() - timedelta(hours=1))
    thread = sweeper(partial(deliveries_reconcile, older_than=timedelta(minutes=5), client=orders))

    with caplog.at_level(logging.INFO):
        with database_down():
            thread.run_once()
            thread.run_once()
        thread.run_once()

    assert Delivery.objects.get(order_id="a").status == "completed"
    messages = [record.getMessage() for record in caplog.records if record.name == "couriers.consumer.sweeper"]
    assert len(messages) == 2, messages
    assert messages[0].startswith("reconcile sweep paused: the database does not answer")
    assert messages[1] == "reconcile sweep resumed: the database answers again"
