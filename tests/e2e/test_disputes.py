"""Against a service-order whose reads contradict its own `completed` events (the faithful simulator),
the fleet keeps moving: disputed ends are settled by the rule, foreign ends are not trusted early.

The consumers run the plain command: its reconcile sweep is on by default (CONSUMER_RECONCILE_EVERY, set
here to the demo's SWEEP_EVERY), and it is what settles a dispute no later event comes to settle, as after
a backlog read past service-order's 10-minute mark.
"""

import signal
import time
from datetime import timedelta
from uuid import uuid4

import pytest
from django.utils import timezone

from couriers.models import Courier, Delivery, OrderKnowledge
from sandbox.chaos import Chaos
from sandbox.demo.options import DemoOptions
from sandbox.demo.world import SWEEP_EVERY, demo_grace
from sandbox.orders import LIFETIME, TERMINAL
from sandbox.simulator import Simulator
from sandbox.verify import verify
from tests.e2e.conftest import wait_until
from tests.kafka_helpers import committed_lag, produce

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TIME_SCALE = DemoOptions.time_scale
GRACE = float(demo_grace(TIME_SCALE))  # the default grace at the demo's time scale, as the demo sets it
LIFE = LIFETIME * TIME_SCALE  # created to completed, by service-order's timers
SLACK = 20.0  # for the events to reach the consumer on a loaded machine
SWEEPING = {"CONSUMER_RECONCILE_EVERY": str(SWEEP_EVERY)}  # the default sweep, at the demo's pace


def test_every_completed_order_frees_its_courier_within_the_grace(
    kafka_broker, pipeline_topic, consumers, consumer_env, make_courier
):
    for i in range(8):
        make_courier(f"courier {i}")
    chaos = Chaos(duplicate_probability=0.3, max_copies=2, reorder_window=0.5, update_fraction=0.2)
    with Simulator(
        bootstrap=kafka_broker, topic=pipeline_topic, time_scale=TIME_SCALE, chaos=chaos, seed=20
    ) as simulator:
        consumer_env |= {"ORDER_SERVICE_URL": simulator.url, "DISPUTE_GRACE": str(GRACE), **SWEEPING}
        consumer = consumers.start()
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
        consumer_env.update(ORDER_SERVICE_URL=simulator.url, DISPUTE_GRACE=grace, RECONCILE_OLDER_THAN="0", **SWEEPING)
        (order_id,) = simulator.create_orders(1)
        wait_until(lambda: simulator.store.status(order_id) == "cooking", 30, "the order cooking")
        simulator.freeze()
        consumer = consumers.start()
        wait_until(lambda: Delivery.objects.filter(order_id=order_id, status="assigned").exists(), 60, "assigned")
        return order_id, consumer

    stack: list[Simulator] = []
    yield start
    for simulator in stack:
        simulator.stop()


def replayed_end_and_a_sweep_after(kafka_broker: str, topic: str, order_id: str, age: timedelta) -> Delivery:
    """A `completed` event for the order, its dispute aged by `age`, then one whole sweep run: the delivery."""
    produce(kafka_broker, topic, [{"order_id": order_id, "status": "completed", "created_at": "2026-01-01T00:00:00Z"}])
    known = OrderKnowledge.objects.filter(order_id=order_id)
    wait_until(lambda: known.get().end_announced_at is not None, 60, "the dispute opened")
    known.update(end_announced_at=timezone.now() - age)
    aged = timezone.now()
    # The sweep settles expired disputes before it checks due deliveries (RECONCILE_OLDER_THAN=0: all of them).
    wait_until(lambda: known.get().read_at > aged, 30, "a sweep after it")
    return Delivery.objects.select_related("courier", "order").get(order_id=order_id)


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

    assert (delivery.status, delivery.disputed, delivery.order.end_announced) == ("assigned", True, "completed")
    assert delivery.courier.status == Courier.Status.BUSY
    assert "settled" not in consumers.log(consumer)


# --- a backlog read after the 10-minute mark -------------------------------------------------------------

BACKLOG_CHAOS = Chaos(
    duplicate_probability=0.3, max_copies=2, reorder_window=0.5, cancel_fraction=0.2, update_fraction=0.2
)
FOREIGN = [str(uuid4()) for _ in range(3)]  # ids service-order never had


def backlog_past_the_mark(simulator: Simulator, kafka_broker: str, topic: str, orders: int) -> list[str]:
    """`orders` orders whose lives are over at service-order, every read of a live or completed one answering
    `delivering`, their events (and some for ids service-order never had) all in the topic, the clock frozen."""
    ids = simulator.create_orders(orders, over=2.0)

    def over() -> bool:
        statuses = [simulator.store.status(order_id) for order_id in ids]
        if not all(status in (*TERMINAL, "updated") for status in statuses):
            return False
        views = [simulator.store.view(order_id) for order_id in ids]
        return all(view is None or view["status"] in ("delivering", "canceled") for view in views)

    wait_until(over, LIFE + 60, "every order's life over, past the 10-minute mark")
    simulator.freeze()
    simulator.wait_until_settled()
    foreign = [
        {"order_id": order_id, "status": status, "created_at": "2026-01-01T00:00:00Z"}
        for status in ("created", "completed")
        for order_id in FOREIGN
    ]
    produce(kafka_broker, topic, foreign)
    truth = simulator.truth()
    assert {"completed", "updated"} <= set(truth.values()), f"the test proves nothing: {truth}"
    assert {simulator.store.view(i)["status"] for i, s in truth.items() if s == "completed"} == {"delivering"}
    return ids


def caught_up(kafka_broker: str, topic: str, group: str) -> None:
    wait_until(lambda: committed_lag(kafka_broker, topic, group) == 0, 120, "the backlog consumed")


def test_a_backlog_read_past_the_mark_ends_consistent_with_the_plain_command(
    kafka_broker, pipeline_topic, consumers, consumer_env, make_courier
):
    """The consumers start after every order's life is over: each completed order reads `delivering`, its
    `completed` event among duplicates on other partitions. The plain command (its sweep on by default) ends
    every such delivery once the grace is over, and frees its courier."""
    couriers = 12
    for i in range(couriers):
        make_courier(f"courier {i}")
    with Simulator(
        bootstrap=kafka_broker, topic=pipeline_topic, time_scale=TIME_SCALE, chaos=BACKLOG_CHAOS, seed=22
    ) as simulator:
        ids = backlog_past_the_mark(simulator, kafka_broker, pipeline_topic, 14)
        truth = simulator.truth()
        completed = [order_id for order_id in ids if truth[order_id] == "completed"]
        edited = [order_id for order_id in ids if truth[order_id] == "updated"]
        gone = [order_id for order_id in ids if truth[order_id] in ("canceled", "deleted")]
        consumer_env |= {"ORDER_SERVICE_URL": simulator.url, "DISPUTE_GRACE": str(GRACE), **SWEEPING}
        first, second = consumers.start(), consumers.start()  # no --reconcile-every: the default sweeps

        caught_up(kafka_broker, pipeline_topic, consumer_env["KAFKA_GROUP_ID"])
        wait_until(
            lambda: Delivery.objects.filter(order_id__in=completed, status="completed").count() == len(completed),
            GRACE + 2 * SWEEP_EVERY + SLACK,
            "every completed order's delivery completed",
        )
        wait_until(
            lambda: Delivery.objects.filter(order_id__in=edited, status="assigned").count() == len(edited),
            SLACK,
            "every edited order with its courier",
        )
        report = verify(simulator.truth())
    assert report.ok, (report.summary(), report.mismatches[:10], report.courier_problems)
    assert not Delivery.objects.filter(order_id__in=gone).exclude(status="cancelled").exists()
    assert not Delivery.objects.filter(order_id__in=FOREIGN).exists()
    known = dict(OrderKnowledge.objects.filter(order_id__in=FOREIGN).values_list("order_id", "read_status"))
    assert known == dict.fromkeys(FOREIGN, OrderKnowledge.NOT_FOUND)
    assert Courier.objects.filter(status=Courier.Status.AVAILABLE).count() == couriers - len(edited)
    assert not Courier.objects.filter(deliveries__order_id__in=completed, status=Courier.Status.BUSY).exists()
    log = consumers.log(first) + consumers.log(second)
    for order_id in completed:
        assert f"dispute over order {order_id} (completed announced) settled by the rule" in log


def test_without_the_sweep_a_backlogs_disputes_stand(
    kafka_broker, pipeline_topic, consumers, consumer_env, make_courier
):
    """`--reconcile-every 0`: once the backlog is read, no event comes to settle a dispute, whatever the
    grace. The plain command then settles them: the default sweep does that work."""
    for i in range(6):
        make_courier(f"courier {i}")
    with Simulator(
        bootstrap=kafka_broker, topic=pipeline_topic, time_scale=TIME_SCALE, chaos=BACKLOG_CHAOS, seed=23
    ) as simulator:
        backlog_past_the_mark(simulator, kafka_broker, pipeline_topic, 6)
        completed = [order_id for order_id, status in simulator.truth().items() if status == "completed"]
        consumer_env |= {"ORDER_SERVICE_URL": simulator.url, "DISPUTE_GRACE": str(GRACE), **SWEEPING}
        without = consumers.start("--reconcile-every", "0")
        caught_up(kafka_broker, pipeline_topic, consumer_env["KAFKA_GROUP_ID"])
        busy = set(Courier.objects.filter(status=Courier.Status.BUSY).values_list("id", flat=True))
        time.sleep(GRACE + 4 * SWEEP_EVERY)

        deliveries = Delivery.objects.select_related("order").filter(order_id__in=completed)
        assert len(deliveries) == len(completed)
        assert all(delivery.disputed for delivery in deliveries), [(d.order_id, d.status) for d in deliveries]
        assert set(Courier.objects.filter(status=Courier.Status.BUSY).values_list("id", flat=True)) == busy
        assert "settled" not in consumers.log(without)

        without.send_signal(signal.SIGTERM)
        assert consumers.wait_exit(without, 30) == 0
        consumers.start()  # the plain command, in the same group: nothing left to read, its sweep settles them
        wait_until(
            lambda: Delivery.objects.filter(order_id__in=completed, status="completed").count() == len(completed),
            60,
            "every completed order's delivery completed by the default sweep",
        )
        report = verify(simulator.truth())
    assert report.ok, (report.summary(), report.mismatches[:10], report.courier_problems)
