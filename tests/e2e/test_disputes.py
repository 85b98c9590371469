"""Against a service-order whose reads contradict its own `completed` events (the faithful simulator),
the fleet keeps moving: disputed ends are settled by the rule, foreign ends are not trusted early."""

from datetime import timedelta

import pytest
from django.utils import timezone

from couriers.models import Courier, Delivery
from sandbox.chaos import Chaos
from sandbox.demo.options import DemoOptions
from sandbox.demo.world import SWEEP_EVERY, demo_grace
from sandbox.orders import LIFETIME
from sandbox.simulator import Simulator
from sandbox.verify import verify
from tests.e2e.conftest import wait_until
from tests.kafka_helpers import produce

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TIME_SCALE = DemoOptions.time_scale
GRACE = float(demo_grace(TIME_SCALE))  # the default grace at the demo's time scale, as the demo sets it
LIFE = LIFETIME * TIME_SCALE  # created to completed, by service-order's timers
SLACK = 20.0  # for the events to reach the consumer on a loaded machine


def test_every_completed_order_frees_its_courier_within_the_grace(
    kafka_broker, pipeline_topic, consumers, consumer_env, make_courier
):
    for i in range(8):
        make_courier(f"courier {i}")
    chaos = Chaos(duplicate_probability=0.3, max_copies=2, reorder_window=0.5, update_fraction=0.2)
    with Simulator(
        bootstrap=kafka_broker, topic=pipeline_topic, time_scale=TIME_SCALE, chaos=chaos, seed=20
    ) as simulator:
        consumer_env |= {"ORDER_SERVICE_URL": simulator.url, "DISPUTE_GRACE": str(GRACE)}
        consumer = consumers.start("--reconcile-every", str(SWEEP_EVERY))
        consumers.wait_for_log(consumer, "assigned partitions")
        ids = simulator.create_orders(8, over=2.0)
        wait_until(lambda: all(simulator.store.status(i) in ("completed", "updated") for i in ids), LIFE + 60, "lives")
        simulator.freeze()
        simulator.wait_until_settled()
        completed = [order_id for order_id, status in simulator.truth().items() if status == "completed"]
        assert completed, "no order completed: the test proves nothing"
        assert {simulator.store.view(order_id)["status"] for order_id in completed} == {"delivering"}

        wait_until(
            lambda: Delivery.objects.filter(order_id__in=completed, status="completed").count() == len(completed),
            GRACE + SWEEP_EVERY + SLACK,
            "every completed order's delivery completed",
        )
        report = verify(simulator.truth())
    assert report.ok, (report.summary(), report.mismatches[:10], report.courier_problems)
    edited = len(ids) - len(completed)  # `updated` orders are never announced completed: they keep their courier
    assert Courier.objects.filter(status=Courier.Status.AVAILABLE).count() == 8 - edited
    log = consumers.log(consumer)
    for order_id in completed:
        assert f"dispute opened: an event says order {order_id} is completed, service-order reads delivering" in log
        assert f"dispute over order {order_id} (completed announced) settled by the rule" in log


@pytest.fixture
def cooking_order(kafka_broker, pipeline_topic, consumers, consumer_env, make_courier):
    """One order frozen in `cooking` (service-order never ended it), with its courier; and the consumer."""

    def start(grace: str) -> tuple[str, object]:
        make_courier()
        simulator = Simulator(bootstrap=kafka_broker, topic=pipeline_topic, time_scale=TIME_SCALE, seed=21).start()
        stack.append(simulator)
        consumer_env.update(ORDER_SERVICE_URL=simulator.url, DISPUTE_GRACE=grace, RECONCILE_OLDER_THAN="0")
        (order_id,) = simulator.create_orders(1)
        wait_until(lambda: simulator.store.status(order_id) == "cooking", 30, "the order cooking")
        simulator.freeze()
        consumer = consumers.start("--reconcile-every", str(SWEEP_EVERY))
        wait_until(lambda: Delivery.objects.filter(order_id=order_id, status="assigned").exists(), 60, "assigned")
        return order_id, consumer

    stack: list[Simulator] = []
    yield start
    for simulator in stack:
        simulator.stop()


def replayed_end_and_a_sweep_after(kafka_broker: str, topic: str, order_id: str, age: timedelta) -> Delivery:
    """A `completed` event for the order, its dispute aged by `age`, then one whole sweep run: the delivery."""
    produce(kafka_broker, topic, [{"order_id": order_id, "status": "completed", "created_at": "2026-01-01T00:00:00Z"}])
    wait_until(lambda: Delivery.objects.get(order_id=order_id).end_announced_at is not None, 60, "the dispute opened")
    Delivery.objects.filter(order_id=order_id).update(end_announced_at=timezone.now() - age)
    aged = timezone.now()
    # The sweep settles expired disputes before it checks due deliveries (RECONCILE_OLDER_THAN=0: all of them).
    wait_until(lambda: Delivery.objects.get(order_id=order_id).order_checked_at > aged, 30, "a sweep after it")
    return Delivery.objects.select_related("courier").get(order_id=order_id)


def test_a_foreign_completed_event_changes_nothing_within_the_grace(kafka_broker, pipeline_topic, cooking_order):
    order_id, _ = cooking_order("600")

    delivery = replayed_end_and_a_sweep_after(kafka_broker, pipeline_topic, order_id, timedelta(seconds=590))

    assert (delivery.status, delivery.disputed) == ("assigned", True)
    assert delivery.courier.status == Courier.Status.BUSY


def test_past_the_grace_the_default_trusts_the_event(kafka_broker, pipeline_topic, cooking_order):
    order_id, _ = cooking_order("600")

    replayed_end_and_a_sweep_after(kafka_broker, pipeline_topic, order_id, timedelta(seconds=601))

    wait_until(lambda: Delivery.objects.get(order_id=order_id).status == "completed", 30, "settled by the rule")


def test_strict_mode_leaves_a_disputed_delivery_for_a_dispatcher(
    kafka_broker, pipeline_topic, cooking_order, consumers
):
    order_id, consumer = cooking_order("never")

    delivery = replayed_end_and_a_sweep_after(kafka_broker, pipeline_topic, order_id, timedelta(days=30))

    assert (delivery.status, delivery.disputed, delivery.end_announced) == ("assigned", True, "completed")
    assert delivery.courier.status == Courier.Status.BUSY
    assert "settled" not in consumers.log(consumer)
