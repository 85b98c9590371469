"""The watchdog ends a consumer whose loop stopped turning, and leaves a turning one alone."""

import logging
import threading
from uuid import uuid4

import pytest
from confluent_kafka import Consumer, Producer

from couriers.consumer.backoff import Backoff
from couriers.consumer.dead_letters import DeadLetters
from couriers.consumer.kafka import consumer_config, producer_config
from couriers.consumer.loop import ConsumerOptions, OrderEventConsumer
from couriers.consumer.watchdog import STALLED_EXIT_CODE, Watchdog
from tests.deploy.conftest import last_line, manage, production_env
from tests.fakes import ScriptedChecks
from tests.kafka_helpers import produce


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_loop_that_keeps_turning_is_left_alone():
    clock, exits = Clock(), []
    watchdog = Watchdog(stall_seconds=60, exit=exits.append, clock=clock)
    for _ in range(10):
        clock.now += 30
        watchdog.beat()
        watchdog.check()

    assert exits == []


def test_a_silent_loop_ends_the_process_with_the_reason(caplog):
    clock, exits = Clock(), []
    watchdog = Watchdog(stall_seconds=60, exit=exits.append, clock=clock)
    clock.now += 59
    watchdog.check()
    assert exits == []

    clock.now += 2
    watchdog.check()

    assert exits == [STALLED_EXIT_CODE]
    [record] = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert "has not turned for 61s (CONSUMER_STALL_SECONDS=60)" in record.getMessage()


@pytest.mark.django_db(transaction=True)  # the loop reads the parked orders before its batch
def test_a_hanging_call_is_caught_by_the_watchdog_thread(kafka_broker, topic, caplog):
    """The real loop, a handler that never returns: the watchdog exits, naming where it hangs."""
    released, exited = threading.Event(), threading.Event()
    exits = []

    class HangingChecks(ScriptedChecks):
        def read(self, order_id, event_statuses, produced_at=None):
            released.wait(60)  # a call to service-order that never ends
            raise RuntimeError("released by the test")

    def exit(code: int) -> None:
        exits.append(code)
        exited.set()

    produce(kafka_broker, topic, [{"order_id": "a", "status": "created"}])
    watchdog = Watchdog(stall_seconds=2, exit=exit)
    overrides = {"bootstrap.servers": kafka_broker, "group.id": f"g-{uuid4().hex}", "session.timeout.ms": 6000}
    loop = OrderEventConsumer(
        consumer=Consumer(consumer_config(**overrides)),
        dead_letters=DeadLetters(Producer(producer_config(**{"bootstrap.servers": kafka_broker})), f"{topic}.dlq"),
        checks=HangingChecks(),
        options=ConsumerOptions(
            topic=topic,
            max_event_bytes=1024,
            batch_size=10,
            concurrency=2,
            backoff=Backoff(initial=0.1, maximum=0.5),
            heartbeat=watchdog.beat,
        ),
    )
    running = threading.Thread(target=loop.run)
    watchdog.start()
    running.start()
    try:
        assert exited.wait(60), "the watchdog never fired"
    finally:
        loop.request_stop()
        released.set()
        running.join(30)
        watchdog.stop()

    assert exits == [STALLED_EXIT_CODE]
    assert "released.wait(60)" in caplog.text, "the stack of the hanging call"


def test_a_stall_limit_a_legitimate_batch_could_reach_stops_start_up(tmp_path):
    env = production_env(tmp_path) | {"KAFKA_MAX_POLL_INTERVAL_MS": "300000", "CONSUMER_STALL_SECONDS": "300"}

    result = manage("check", env=env)

    assert result.returncode != 0
    assert "CONSUMER_STALL_SECONDS=300 must be above KAFKA_MAX_POLL_INTERVAL_MS (300 s)" in last_line(result.stderr)
