"""The consume loop against a real Kafka protocol broker (librdkafka's mock cluster)."""

from uuid import uuid4

import pytest
from confluent_kafka import Consumer, Producer

from couriers.consumer.backoff import Backoff
from couriers.consumer.batch import ServiceChecks
from couriers.consumer.dead_letters import ORIGINAL_OFFSET, ORIGINAL_TOPIC, REASON, DeadLetters
from couriers.consumer.kafka import consumer_config, producer_config
from couriers.consumer.loop import ConsumerOptions, OrderEventConsumer
from couriers.models import Delivery, OrderFailure, OrderKnowledge
from gateway.orders import OrderServiceUnavailable
from tests.fakes import FakeOrderClient
from tests.kafka_helpers import committed_lag, produce, read_all

pytestmark = pytest.mark.django_db(transaction=True)


class FlakyOrders(FakeOrderClient):
    """service-order that is down for its first `outage` calls."""

    def __init__(self, outage: int) -> None:
        super().__init__()
        self.outage = outage

    def get_order(self, order_id: str):
        if self.outage > 0:
            self.outage -= 1
            raise OrderServiceUnavailable("503 from service-order")
        return super().get_order(order_id)


def run_consumer(bootstrap: str, topic: str, client: FakeOrderClient, *, group: str, concurrency: int = 4) -> None:
    overrides = {"bootstrap.servers": bootstrap, "group.id": group, "session.timeout.ms": 6000}
    OrderEventConsumer(
        consumer=Consumer(consumer_config(**overrides)),
        dead_letters=DeadLetters(Producer(producer_config(**{"bootstrap.servers": bootstrap})), f"{topic}.dlq"),
        checks=ServiceChecks(client),
        options=ConsumerOptions(
            topic=topic,
            max_event_bytes=1024,
            batch_size=50,
            concurrency=concurrency,
            backoff=Backoff(initial=0.1, maximum=0.5),
            idle_exit=4.0,
        ),
    ).run()


@pytest.mark.parametrize("concurrency", [1, 4])
def test_events_become_deliveries_and_offsets_are_committed(kafka_broker, topic, orders, make_courier, concurrency):
    make_courier()
    make_courier()
    for order_id, status in {"a": "cooking", "b": "pending", "c": "completed", "d": "canceled"}.items():
        orders.set(order_id, status)
    events = [{"order_id": o, "status": "created"} for o in "abcd"] * 3 + [{"order_id": "zz", "status": "created"}]
    produce(kafka_broker, topic, events)
    group = f"g-{uuid4().hex}"

    run_consumer(kafka_broker, topic, orders, group=group, concurrency=concurrency)

    assert dict(Delivery.objects.values_list("order_id", "status")) == {"a": "assigned", "b": "assigned"}
    # c, d: first known ended; zz: service-order's not-found. Known, so that no older reading can assign them.
    assert dict(OrderKnowledge.objects.values_list("order_id", "read_status")) == {
        "a": "cooking",
        "b": "pending",
        "c": "completed",
        "d": "canceled",
        "zz": OrderKnowledge.NOT_FOUND,
    }
    assert not OrderFailure.objects.exists(), "every order decided, none set aside"
    assert committed_lag(kafka_broker, topic, group) == 0


def test_malformed_events_go_to_the_dead_letter_topic_with_the_reason(kafka_broker, topic, orders, make_courier):
    make_courier()
    orders.set("a", "cooking")
    garbage = [b"not json", b"[1, 2]", b'{"status": "created"}', b'{"order_id": "a", "status": ""}', b"x" * 2000]
    # Ids outside the alphabet (gateway.order_ids), which would steer the request to service-order.
    garbage += [b'{"order_id": "123/items", "status": "created"}', b'{"order_id": "..", "status": "created"}']
    produce(kafka_broker, topic, [*garbage, {"order_id": "a", "status": "created"}])
    group = f"g-{uuid4().hex}"

    run_consumer(kafka_broker, topic, orders, group=group)

    assert Delivery.objects.get(order_id="a").status == "assigned"
    dead = read_all(kafka_broker, f"{topic}.dlq", expected=len(garbage))
    assert sorted(m.value() for m in dead) == sorted(garbage)
    for message in dead:
        headers = dict(message.headers())
        assert headers[REASON]
        assert headers[ORIGINAL_TOPIC] == topic.encode()
        assert int(headers[ORIGINAL_OFFSET]) >= 0
    reasons = {dict(m.headers())[REASON].decode() for m in dead}
    assert any("over the limit" in reason for reason in reasons)
    assert any("not JSON" in reason for reason in reasons)
    assert committed_lag(kafka_broker, topic, group) == 0


def test_an_outage_delays_events_but_loses_none(kafka_broker, topic, make_courier):
    make_courier()
    make_courier()
    make_courier()
    client = FlakyOrders(outage=6)
    for order_id in ("a", "b", "c"):
        client.set(order_id, "cooking")
    produce(kafka_broker, topic, [{"order_id": o, "status": "created"} for o in ("a", "b", "c")])
    group = f"g-{uuid4().hex}"

    run_consumer(kafka_broker, topic, client, group=group)

    assert client.outage == 0, "the outage was never hit"
    assert set(Delivery.objects.filter(status="assigned").values_list("order_id", flat=True)) == {"a", "b", "c"}
    assert committed_lag(kafka_broker, topic, group) == 0
