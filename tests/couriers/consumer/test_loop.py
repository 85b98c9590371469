"""The loop with fakes around it: a poison order is given up, an outage never is."""

import json
import logging

import pytest
from django.db import OperationalError

from couriers.consumer.backoff import Backoff
from couriers.consumer.dead_letters import ATTEMPTS, LAST_ERROR, REASON, DeadLetters
from couriers.consumer.loop import ConsumerOptions, OrderEventConsumer
from couriers.models import OrderFailure
from gateway.orders import BadOrderAnswer, OrderServiceUnavailable
from tests.fakes import FakeConsumer, FakeMessage, FakeProducer, ScriptedChecks

pytestmark = pytest.mark.django_db(transaction=True)

MAX_ATTEMPTS = 3


def make_loop(service: ScriptedChecks) -> tuple[OrderEventConsumer, FakeConsumer, FakeProducer]:
    consumer, producer = FakeConsumer(), FakeProducer()
    options = ConsumerOptions(
        topic="t", max_event_bytes=1024, batch_size=10, concurrency=1, backoff=Backoff(1, 1), max_attempts=MAX_ATTEMPTS
    )
    loop = OrderEventConsumer(
        consumer=consumer,
        dead_letters=DeadLetters(producer, "t.dlq"),
        checks=service,
        options=options,
        service_probe=lambda order_id: service.down is None and order_id not in service.errors,
    )
    return loop, consumer, producer


def batch(*order_ids: str) -> list[FakeMessage]:
    return [
        FakeMessage(json.dumps({"order_id": order_id, "status": "created"}).encode(), offset=offset)
        for offset, order_id in enumerate(order_ids)
    ]


def test_a_poison_order_is_retried_then_dead_lettered_and_its_partition_moves_on(caplog):
    service = ScriptedChecks()
    service.errors["poison"] = BadOrderAnswer("service-order answered without a status")
    loop, consumer, producer = make_loop(service)

    for _ in range(MAX_ATTEMPTS - 1):
        loop.process_batch(batch("a", "poison", "b"))
        assert consumer.stored == {0: 1}, "stored up to the poison event, which is retried"
    assert producer.sent == []
    loop.process_batch(batch("a", "poison", "b"))

    assert consumer.stored == {0: 3}
    [(value, headers)] = producer.sent
    assert json.loads(value)["order_id"] == "poison"
    assert headers[REASON] == b"gave up after 3 failed attempts"
    assert headers[ATTEMPTS] == b"3"
    assert headers[LAST_ERROR] == b"BadOrderAnswer: service-order answered without a status"
    assert not OrderFailure.objects.exists(), "given up: a replay starts from zero"
    assert "order poison gave up after 3 attempts" in caplog.text


@pytest.mark.parametrize(
    "failure", [OrderServiceUnavailable("connection refused"), OperationalError("server closed the connection")]
)
def test_an_outage_is_never_counted_nor_dead_lettered(caplog, failure):
    service = ScriptedChecks()
    loop, consumer, producer = make_loop(service)
    loop.runner.database_probe = lambda: False
    loop.process_batch(batch("a", "b", "c"))  # answered: the order the probe asks once no call is
    service.down = failure

    with caplog.at_level(logging.INFO):
        for _ in range(MAX_ATTEMPTS * 2):
            loop.process_batch(batch("a", "b", "c"))
        service.down = None
        loop.process_batch(batch("a", "b", "c"))

    assert producer.sent == []
    assert not OrderFailure.objects.exists()
    assert consumer.stored == {0: 3}
    outage_lines = [r.getMessage() for r in caplog.records if "is down" in r.getMessage() or "again" in r.getMessage()]
    assert len(outage_lines) == 2, outage_lines
    assert "could not be processed" not in caplog.text


def test_partitions_wait_for_the_database_to_answer_before_resuming():
    service = ScriptedChecks()
    service.down = OperationalError("server closed the connection")
    loop, consumer, _ = make_loop(service)
    loop.runner.database_probe = lambda: False
    loop.process_batch(batch("a"))
    loop.pauses.resume_at = dict.fromkeys(loop.pauses.resume_at, 0.0)  # the wait is over

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("couriers.consumer.loop.database_answers", lambda: False)
        loop.pauses.resume_due(ready=loop._database_ready)
        assert not [call for call in consumer.calls if call[0] == "resume"]
        patch.setattr("couriers.consumer.loop.database_answers", lambda: True)
        loop.pauses.resume_at = dict.fromkeys(loop.pauses.resume_at, 0.0)
        loop.pauses.resume_due(ready=loop._database_ready)

    assert [call[0] for call in consumer.calls][-1] == "resume"


def test_a_batchs_orders_are_handed_on_in_the_order_of_their_first_events():
    class Recording(ScriptedChecks):
        def start(self, readings):
            self.started = [reading.order_id for reading in readings]
            return {}

    service = Recording()
    loop, _, _ = make_loop(service)

    loop.process_batch(batch("o3", "o1", "o3", "o2", "o1"))  # offsets 0..4, as the gatherer orders them

    assert service.started == ["o3", "o1", "o2"]
