"""The whole path from a Kafka event to a committed assignment, under the chaos the mission is about."""

import json
import signal
from collections import Counter

import pytest

from couriers.models import Delivery
from sandbox.publisher import KafkaSink
from sandbox.simulator import Simulator
from sandbox.verify import verify
from tests.e2e.conftest import CHAOS, point_at, wait_until
from tests.kafka_helpers import committed_lag, read_all

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_chaotic_stream_ends_consistent_with_service_order(
    kafka_broker, pipeline_topic, consumers, consumer_env, make_courier, transport
):
    for i in range(8):
        make_courier(f"courier {i}", transport_type=("on_foot", "scooter", "car")[i % 3])
    with Simulator(
        bootstrap=kafka_broker, topic=pipeline_topic, time_scale=0.01, chaos=CHAOS, seed=42, grpc_port=0
    ) as simulator:
        point_at(simulator, consumer_env, transport)
        # Faithful reads: completed orders read `delivering`; their deliveries end by the dispute rule, within
        # the grace (120 s at this time scale) and a sweep, before the consumer is idle long enough to exit.
        consumer_env["DISPUTE_GRACE"] = "1.2"
        simulator.create_orders(40, over=3.0)
        consumer = consumers.start("--idle-exit", "6", "--reconcile-every", "1")
        # service-order answers 503 in the middle of the stream, while new orders keep coming.
        wait_until(lambda: Delivery.objects.count() >= 5, 60, "work under way")
        simulator.outage(3.0)
        simulator.create_orders(10, over=1.0)
        # Let orders live until some have been delivered, then stop the clock: the truth is final.
        wait_until(lambda: Counter(simulator.truth().values())["completed"] >= 3, 60, "orders completed")
        wait_until(lambda: len(simulator.truth()) == 50, 30, "every order created")  # a loaded machine lags
        simulator.freeze()
        simulator.wait_until_settled(timeout=30)

        assert consumers.wait_exit(consumer) == 0, consumers.log(consumer)[-3000:]
        record = simulator.record()
        report = verify(simulator.truth(), foreign_ids=record.unknown)
        assert report.ok, (report.summary(), report.mismatches[:10], report.courier_problems)
        assert report.checked == 50 + len(set(record.unknown))
        assert simulator.requests().by_status.get(503, 0) > 0, "the outage never hit the consumer"

    log = consumers.log(consumer)
    completed = sum(status == "completed" for status in simulator.truth().values())
    assert log.count("settled by the rule") == completed, "every completed order was disputed, then settled"
    assert log.count("service-order is down") == 1, "outage state changes are logged once"
    assert "reachable again" in log
    assert record.malformed_total > 0
    dead = read_all(kafka_broker, f"{pipeline_topic}.dlq", expected=record.malformed_total)
    assert len(dead) == record.malformed_total
    assert committed_lag(kafka_broker, pipeline_topic, consumer_env["KAFKA_GROUP_ID"]) == 0


class CreatedOnly(KafkaSink):
    """Publishes only the `created` events: each order's one chance of a courier is an event already behind it."""

    def send(self, payload: bytes) -> None:
        if json.loads(payload)["status"] == "created":  # no chaos here: every payload is a well-formed event
            super().send(payload)


def test_created_consumed_after_the_order_moved_on_still_gets_a_courier(
    kafka_broker, pipeline_topic, consumers, consumer_env, make_courier
):
    for i in range(5):
        make_courier(f"courier {i}")
    sink = CreatedOnly(kafka_broker, pipeline_topic)
    with Simulator(sink=sink, time_scale=0.01, seed=1) as simulator:
        consumer_env["ORDER_SERVICE_URL"] = simulator.url
        ids = simulator.create_orders(5)
        # The consumer comes late: every order is cooking before its `created` event is read.
        wait_until(lambda: set(simulator.truth().values()) == {"cooking"}, 30, "orders cooking")
        simulator.freeze()
        simulator.wait_until_settled()
        consumer = consumers.start("--idle-exit", "5")
        assert consumers.wait_exit(consumer) == 0

    assert set(Delivery.objects.filter(order_id__in=ids).values_list("status", flat=True)) == {"assigned"}
    assert "event said created, order is cooking: assigned" in consumers.log(consumer)


def test_sigterm_finishes_the_work_in_hand_and_exits_cleanly(
    kafka_broker, pipeline_topic, consumers, consumer_env, make_courier
):
    make_courier()
    with Simulator(bootstrap=kafka_broker, topic=pipeline_topic, time_scale=0.01, seed=2) as simulator:
        consumer_env["ORDER_SERVICE_URL"] = simulator.url
        simulator.create_orders(3)
        consumer = consumers.start()
        consumers.wait_for_log(consumer, "assigned partitions")
        wait_until(lambda: Delivery.objects.count() == 3, 60, "three deliveries recorded")
        consumer.send_signal(signal.SIGTERM)
        assert consumers.wait_exit(consumer, timeout=30) == 0
    assert "consumer closed" in consumers.log(consumer)
