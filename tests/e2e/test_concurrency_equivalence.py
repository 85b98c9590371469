"""Concurrency changes speed, never the outcome: one chaotic stream, one order at a time or many, same end."""

from uuid import uuid4

import pytest

from couriers.models import Courier, Delivery, OrderKnowledge
from sandbox.simulator import Simulator
from sandbox.verify import verify
from tests.brokers import Broker
from tests.e2e.conftest import CHAOS, Consumers
from tests.kafka_helpers import committed_lag

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ORDERS = 40
COURIERS = 6  # fewer than the orders left open: orders queue, and freed couriers are handed down the queue


def final_state() -> tuple[dict[str, str], int]:
    """Each order's delivery status, and how many hold a courier.

    An open delivery counts as open: which orders got one of the few couriers depends on timing.
    """
    deliveries = {
        order_id: "open" if status in Delivery.OPEN else status
        for order_id, status in Delivery.objects.values_list("order_id", "status")
    }
    return deliveries, Delivery.objects.filter(status=Delivery.Status.ASSIGNED).count()


def state_reset() -> None:
    """Nothing of the run before: the simulator's seed makes the same order ids again."""
    Delivery.objects.all().delete()
    OrderKnowledge.objects.all().delete()
    Courier.objects.update(status=Courier.Status.AVAILABLE, load_date=None, deliveries_on_load_date=0)


def consume_until_idle(consumers: Consumers, kafka_broker: str, topic: str, group: str, *args: str, **env: str) -> None:
    consumer = consumers.start(*args, "--idle-exit", "6", KAFKA_GROUP_ID=group, **env)
    assert consumers.wait_exit(consumer) == 0, consumers.log(consumer)[-3000:]
    assert committed_lag(kafka_broker, topic, group) == 0, "events left unprocessed"


def run(consumers: Consumers, kafka: Broker, *args: str) -> tuple[dict[str, str], tuple[dict[str, str], int]]:
    """The same two stages, on a stream of their own: the truth and the end state of the deliveries.

    The simulator's clock stands still, so only what the test does changes an order: every order is
    created (more than there are couriers), consumed; then most end while the rest wait, consumed again.
    """
    state_reset()
    topic, group = f"orders.{uuid4().hex}", f"group-{uuid4().hex}"
    kafka.create_topics(topic, f"{topic}.dlq")
    kafka_broker = kafka.bootstrap_servers
    env = {"KAFKA_TOPIC": topic, "KAFKA_DLQ_TOPIC": f"{topic}.dlq"}
    with Simulator(bootstrap=kafka_broker, topic=topic, chaos=CHAOS, seed=5) as simulator:
        simulator.freeze()
        ids = simulator.create_orders(ORDERS)
        simulator.wait_until_settled(timeout=30)
        env["ORDER_SERVICE_URL"] = simulator.url
        consume_until_idle(consumers, kafka_broker, topic, group, *args, **env)
        for index, order_id in enumerate(ids):
            if index % 2 == 0:
                simulator.cancel(order_id)
            elif index % 4 == 1:
                simulator.delete(order_id)
        simulator.wait_until_settled(timeout=30)
        consume_until_idle(consumers, kafka_broker, topic, group, *args, **env)
        truth = simulator.truth()
        report = verify(truth, foreign_ids=simulator.record().unknown)
    assert report.ok, (args, report.summary(), report.mismatches[:5], report.courier_problems)
    return truth, final_state()


def test_one_at_a_time_and_concurrent_consumers_end_in_the_same_state(kafka, consumers, make_courier):
    for i in range(COURIERS):
        make_courier(f"courier {i}", transport_type=("on_foot", "scooter", "car")[i % 3])

    one_at_a_time = run(consumers, kafka, "--concurrency", "1", "--batch-size", "1")
    concurrent = run(consumers, kafka)

    assert one_at_a_time == concurrent
    _, (deliveries, assigned) = concurrent
    still_open = list(deliveries.values()).count("open")
    assert still_open > COURIERS, "every order found a courier: the queue was never contended"
    assert assigned == COURIERS
    assert "cancelled" in deliveries.values()
