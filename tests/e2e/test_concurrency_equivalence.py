"""Concurrency changes speed, never the outcome: one chaotic stream, one order at a time or many, same end."""

from uuid import uuid4

import pytest

from couriers.models import Courier, Delivery
from sandbox.simulator import Simulator
from sandbox.verify import verify
from tests.e2e.conftest import CHAOS, wait_until
from tests.kafka_helpers import committed_lag

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ORDERS = 40


def final_state() -> dict[str, tuple[str, bool]]:
    """Each order's delivery: its status and whether it holds a courier (which one depends on timing)."""
    return {
        order_id: (status, courier is not None)
        for order_id, status, courier in Delivery.objects.values_list("order_id", "status", "courier_id")
    }


def state_reset() -> None:
    Delivery.objects.all().delete()
    Courier.objects.update(status=Courier.Status.AVAILABLE, load_date=None, deliveries_on_load_date=0)


def test_one_at_a_time_and_concurrent_consumers_end_in_the_same_state(
    kafka_broker, pipeline_topic, consumers, consumer_env, make_courier
):
    for i in range(ORDERS):  # a courier per order: who waits for one would depend on timing
        make_courier(f"courier {i}", transport_type=("on_foot", "scooter", "car")[i % 3])
    with Simulator(bootstrap=kafka_broker, topic=pipeline_topic, time_scale=0.01, chaos=CHAOS, seed=5) as simulator:
        consumer_env["ORDER_SERVICE_URL"] = simulator.url
        simulator.create_orders(ORDERS, over=2.0)
        # Some orders delivered, others cancelled, deleted, edited or still active; then the truth is final.
        wait_until(lambda: "completed" in simulator.truth().values(), 60, "an order completed")
        simulator.freeze()
        simulator.wait_until_settled(timeout=30)
        truth, unknown = simulator.truth(), simulator.record().unknown

        ends = {}
        for name, args in (("one at a time", ("--concurrency", "1", "--batch-size", "1")), ("default", ())):
            state_reset()
            group = f"group-{uuid4().hex}"
            consumer = consumers.start(*args, "--idle-exit", "6", KAFKA_GROUP_ID=group)
            assert consumers.wait_exit(consumer) == 0, consumers.log(consumer)[-3000:]
            assert committed_lag(kafka_broker, pipeline_topic, group) == 0, f"{name}: events left unprocessed"
            report = verify(truth, foreign_ids=unknown)
            assert report.ok, (name, report.summary(), report.mismatches[:5], report.courier_problems)
            ends[name] = final_state()

    assert ends["one at a time"] == ends["default"]
    statuses = {status for status, _ in ends["default"].values()}
    assert {"assigned", "cancelled"} <= statuses, f"the stream did not cover the phases: {statuses}"
