"""The loop with fakes around it: a poison order is set aside and given up, an outage never is."""

import dataclasses
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from functools import partial

import pytest
from django.db import OperationalError
from django.utils import timezone

from couriers.consumer.backoff import Backoff
from couriers.consumer.batch import Checks, ServiceChecks
from couriers.consumer.dead_letters import ATTEMPTS, LAST_ERROR, ORIGINAL_OFFSET, REASON, DeadLetters
from couriers.consumer.loop import ConsumerOptions, OrderEventConsumer
from couriers.consumer.parked import GIVEN_UP_BEFORE
from couriers.models import Courier, Delivery, OrderFailure, OrderKnowledge
from gateway.orders import BadOrderAnswer, OrderServiceUnavailable, service_answers
from tests.couriers.factories import create_courier, create_delivery
from tests.fakes import FakeConsumer, FakeMessage, FakeOrderClient, FakeProducer, ScriptedChecks

pytestmark = pytest.mark.django_db(transaction=True)

MAX_ATTEMPTS = 3


def make_loop(
    service: Checks, service_probe: Callable[[str], bool] | None = None
) -> tuple[OrderEventConsumer, FakeConsumer, FakeProducer]:
    """The loop around `service`; a ScriptedChecks' probe answers unless it is down or fails the order."""
    if service_probe is None:
        assert isinstance(service, ScriptedChecks)
        service_probe = lambda order_id: service.down is None and order_id not in service.errors  # noqa: E731
    consumer, producer = FakeConsumer(), FakeProducer()
    options = ConsumerOptions(
        topic="t", max_event_bytes=1024, batch_size=10, concurrency=1, backoff=Backoff(1, 1), max_attempts=MAX_ATTEMPTS
    )
    loop = OrderEventConsumer(
        consumer=consumer,
        dead_letters=DeadLetters(producer, "t.dlq"),
        checks=service,
        options=options,
        service_probe=service_probe,
    )
    return loop, consumer, producer


def service_loop(orders: FakeOrderClient) -> tuple[OrderEventConsumer, FakeConsumer, FakeProducer]:
    """The loop deciding with the real services, service-order being `orders`, probed as in production."""
    return make_loop(ServiceChecks(orders), partial(service_answers, orders))


def event(order_id: str, status: str = "created") -> bytes:
    return json.dumps({"order_id": order_id, "status": status}).encode()


def batch(*order_ids: str) -> list[FakeMessage]:
    return [FakeMessage(event(order_id), offset=offset) for offset, order_id in enumerate(order_ids)]


def turn_comes() -> None:
    """The parked orders' wait is over."""
    OrderFailure.objects.exclude(events=[]).update(retry_at=timezone.now())


def test_a_poison_order_is_set_aside_its_partition_moves_on_and_it_is_given_up_at_the_limit(caplog):
    service = ScriptedChecks()
    service.errors["poison"] = BadOrderAnswer("service-order answered without a status")
    loop, consumer, producer = make_loop(service)

    loop.process_batch(batch("a", "poison", "b"))
    assert consumer.stored == {0: 3}, "the poison event is set aside: its partition moves on"
    assert not [call for call in consumer.calls if call[0] == "pause"]
    parked = OrderFailure.objects.get(order_id="poison")
    assert (parked.attempts, len(parked.events)) == (1, 1)
    assert loop.parked.take() == {}, "not its turn yet"

    for attempt in range(2, MAX_ATTEMPTS + 1):
        turn_comes()
        loop.process_batch([], loop.parked.take())
        assert OrderFailure.objects.get(order_id="poison").attempts == attempt

    assert service.read_calls.count("poison") == MAX_ATTEMPTS
    [(value, headers)] = producer.sent
    assert json.loads(value)["order_id"] == "poison"
    assert headers[REASON] == b"gave up after 3 failed attempts"
    assert headers[ATTEMPTS] == b"3"
    assert headers[LAST_ERROR] == b"BadOrderAnswer: service-order answered without a status"
    assert headers[ORIGINAL_OFFSET] == b"1"
    assert OrderFailure.objects.get(order_id="poison").events == [], "dead-lettered: nothing left set aside"
    assert not loop.parked.waiting()
    assert "order poison gave up after 3 attempts" in caplog.text


def test_the_events_of_a_parked_order_join_it_without_an_attempt_wherever_they_come_from():
    service = ScriptedChecks()
    service.errors["poison"] = BadOrderAnswer("garbage")
    loop, consumer, producer = make_loop(service)
    loop.process_batch(batch("poison"))

    loop.process_batch([FakeMessage(event("poison", "cooking"), partition=3, offset=7)])

    assert service.read_calls == ["poison"], "no attempt out of its turn"
    assert consumer.stored == {0: 1, 3: 8}
    parked = OrderFailure.objects.get(order_id="poison")
    assert parked.attempts == 1
    assert [(e["partition"], e["offset"], e["status"]) for e in parked.events] == [(0, 0, "created"), (3, 7, "cooking")]
    service.errors.clear()
    turn_comes()
    loop.process_batch([], loop.parked.take())
    assert service.read_calls == ["poison", "poison"]
    assert not OrderFailure.objects.exists(), "processed: nothing set aside any more"
    assert producer.sent == []


def test_a_given_up_orders_later_events_are_dead_lettered_at_once_but_its_end_is_read(orders):
    courier = create_courier()
    create_delivery(order_id="poison", courier=courier)
    orders.fail("poison", BadOrderAnswer("garbage"))
    loop, _, producer = service_loop(orders)
    loop.parked.rules = dataclasses.replace(loop.parked.rules, max_attempts=1)
    loop.process_batch(batch("poison"))
    assert len(producer.sent) == 1
    del orders.errors["poison"]
    orders.set("poison", "completed")
    orders.calls.clear()

    loop.process_batch(
        [
            FakeMessage(event("poison", "cooking"), partition=2, offset=5),
            FakeMessage(event("poison", "completed"), partition=2, offset=6),
        ]
    )

    assert orders.calls == ["poison"], "one check, for the end only"
    [(value, headers)] = producer.sent[1:]
    assert json.loads(value)["status"] == "cooking"
    assert headers[REASON] == GIVEN_UP_BEFORE.encode()
    assert Delivery.objects.get(order_id="poison").status == Delivery.Status.COMPLETED
    assert Courier.objects.get(pk=courier.pk).status == Courier.Status.AVAILABLE, "the end freed the courier"


def test_after_the_window_a_given_up_order_gets_a_new_round():
    service = ScriptedChecks()
    service.errors["poison"] = BadOrderAnswer("garbage")
    loop, _, producer = make_loop(service)
    loop.parked.rules = dataclasses.replace(loop.parked.rules, max_attempts=1)
    loop.process_batch(batch("poison"))
    OrderFailure.objects.update(given_up_at=timezone.now() - loop.parked.rules.give_up_window - timedelta(seconds=1))
    service.errors.clear()

    # Not an end (those are read even within the window): only the window's end gives it a new attempt.
    loop.process_batch([FakeMessage(event("poison", "cooking"), offset=5)])

    assert service.read_calls == ["poison", "poison"]
    assert len(producer.sent) == 1


def test_a_parked_order_taken_during_an_outage_goes_back_untried_and_uncounted():
    service = ScriptedChecks()
    service.errors["poison"] = BadOrderAnswer("garbage")
    loop, _, producer = make_loop(service)
    loop.runner.known_order = "known"
    loop.process_batch(batch("poison"))
    service.down = OrderServiceUnavailable("connection refused")

    for _ in range(MAX_ATTEMPTS * 2):
        turn_comes()
        loop.parked.held_until = 0.0  # the outage's backoff over
        loop.process_batch(batch("a"), loop.parked.take())

    parked = OrderFailure.objects.get(order_id="poison")
    assert parked.attempts == 1
    assert parked.retry_at > timezone.now(), "given back with the outage's backoff"
    assert loop.parked.take() == {}, "held back while the outage lasts"
    assert producer.sent == []


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


def test_a_parked_order_left_out_by_the_batchs_time_budget_is_due_again_at_once_uncounted():
    service = ScriptedChecks()
    service.errors["poison"] = BadOrderAnswer("garbage")
    loop, consumer, _ = make_loop(service)
    loop.process_batch(batch("poison"))
    turn_comes()
    loop.runner.budget = 0.0  # spent before any order starts

    loop.process_batch(batch("a"), loop.parked.take())

    assert service.read_calls == ["poison"]
    assert ("seek", 0, 0) in consumer.calls, "the new event is read again later"
    assert [p.attempts for p in loop.parked.take().values()] == [1], "due again at once, no attempt counted"


def test_events_produced_before_a_decided_check_of_their_order_ask_no_more(caplog):
    service = ScriptedChecks()
    loop, consumer, _ = make_loop(service)
    long_ago = round((timezone.now() - timedelta(minutes=5)).timestamp() * 1000)
    now = round(timezone.now().timestamp() * 1000)

    loop.process_batch([FakeMessage(event("a"), offset=0, timestamp_ms=long_ago)])
    caplog.clear()
    loop.process_batch(
        [
            FakeMessage(event("a", "cooking"), offset=1, timestamp_ms=long_ago),  # before the check: answered
            FakeMessage(event("b"), offset=2, timestamp_ms=long_ago),  # never checked
            FakeMessage(event("a"), offset=3, timestamp_ms=long_ago),
        ]
    )
    loop.process_batch([FakeMessage(event("a", "pending"), offset=4, timestamp_ms=now + 60_000)])  # after it

    assert service.read_calls == ["a", "b", "a"]
    assert consumer.stored == {0: 5}
    [line] = [r for r in caplog.records if getattr(r, "outcome", None) == "already_checked"]
    assert (line.order_id, line.event_statuses, line.events) == ("a", ["cooking", "created"], [[0, 1], [0, 3]])


def test_an_end_in_a_later_batch_of_a_backlog_is_not_collapsed_into_the_check_that_read_the_order_active(
    make_courier,
):
    # service-order after its 10-minute mark: every order reads delivering, completed ones too. Both events
    # were produced before the first check: collapsing the end into it would lose the only sign of it.
    orders = FakeOrderClient()
    orders.set("o1", "delivering")
    loop, consumer, _ = service_loop(orders)
    long_ago = round((timezone.now() - timedelta(minutes=30)).timestamp() * 1000)

    loop.process_batch([FakeMessage(event("o1", "created"), offset=0, timestamp_ms=long_ago)])
    loop.process_batch([FakeMessage(event("o1", "completed"), offset=1, timestamp_ms=long_ago + 1)])

    assert orders.calls == ["o1", "o1"], "the end went to a check of its own"
    assert consumer.stored == {0: 2}
    assert OrderKnowledge.objects.get(order_id="o1").end_announced == "completed"
    make_courier()  # handed the oldest waiting order, unless it is disputed
    delivery = Delivery.objects.select_related("order").get(order_id="o1")
    assert (delivery.disputed, delivery.status, delivery.courier) == (True, Delivery.Status.AWAITING_COURIER, None)
