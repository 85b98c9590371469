"""Many workers dispatching at once with few couriers: row locks keep every invariant.

Real on PostgreSQL (SELECT ... FOR UPDATE SKIP LOCKED), where CI runs it; on SQLite the
IMMEDIATE transactions serialise the same code.
"""

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.db.models import Count, Q

from couriers.models import Courier, Delivery
from couriers.services import order_event_handle, order_read, order_reading_apply, order_readings_start
from sandbox.verify import idle_while_waiting

pytestmark = pytest.mark.django_db(transaction=True)

WORKERS = 8


def run_concurrently(jobs, orders) -> None:
    """Each job is (order_id, event_status); all start together, in random order, on WORKERS threads."""
    start = threading.Barrier(WORKERS)

    def work(share):
        start.wait(timeout=30)
        try:
            for order_id, event_status in share:
                order_event_handle(order_id=order_id, event_status=event_status, client=orders)
        finally:
            connection.close()

    random.Random(7).shuffle(jobs)
    shares = [jobs[i::WORKERS] for i in range(WORKERS)]
    with ThreadPoolExecutor(WORKERS) as pool:
        for future in [pool.submit(work, share) for share in shares]:
            future.result()


def assert_fleet_consistent() -> None:
    couriers = Courier.objects.annotate(held=Count("deliveries", filter=Q(deliveries__status="assigned")))
    for courier in couriers:
        assert courier.held <= 1, f"{courier} holds {courier.held} deliveries"
        assert (courier.status == Courier.Status.BUSY) == (courier.held == 1), f"{courier} is {courier.status}"
    assert idle_while_waiting() == []


def test_many_orders_few_couriers_no_double_booking(orders, make_courier):
    couriers = [make_courier(f"c{i}") for i in range(4)]
    for i in range(60):
        orders.set(f"o{i}", "cooking")
    # Every order three times over (duplicates handled in parallel by different workers).
    run_concurrently([(f"o{i}", "created") for i in range(60)] * 3, orders)

    assert_fleet_consistent()
    assert Delivery.objects.count() == 60
    assert Delivery.objects.filter(status="assigned").count() == len(couriers)
    assert Delivery.objects.filter(status="awaiting_courier").count() == 60 - len(couriers)


def test_completions_hand_couriers_down_the_queue_concurrently(orders, make_courier):
    for i in range(3):
        make_courier(f"c{i}")
    for i in range(30):
        orders.set(f"o{i}", "cooking")
    run_concurrently([(f"o{i}", "created") for i in range(30)], orders)

    finished = [f"o{i}" for i in range(0, 30, 2)]
    for order_id in finished:
        orders.set(order_id, "completed")
    # Finishing and re-announcing events race each other; every order is checked again.
    run_concurrently([(f"o{i}", "completed" if f"o{i}" in finished else "cooking") for i in range(30)] * 2, orders)

    assert_fleet_consistent()
    assert set(Delivery.objects.filter(status="completed").values_list("order_id", flat=True)) == set(finished)
    open_orders = Delivery.objects.filter(status__in=Delivery.OPEN)
    assert set(open_orders.values_list("order_id", flat=True)) == {f"o{i}" for i in range(1, 30, 2)}
    assert open_orders.filter(status="assigned").count() == 3


def test_batches_starting_overlapping_new_orders_at_once_book_each_courier_once(orders, make_courier):
    """Consumers whose batches share new orders (their events on several partitions) start them together."""
    couriers = [make_courier(f"c{i}") for i in range(5)]
    for i in range(40):
        orders.set(f"o{i}", "cooking")
    batches = [[f"o{i}" for i in range(start, start + 20)] for start in (0, 10, 20, 0, 15, 5, 20, 10)]
    for seed, batch in enumerate(batches):
        random.Random(seed).shuffle(batch)  # each in its own order, as their partitions had them
    start = threading.Barrier(len(batches))

    def start_batch(order_ids: list[str]) -> None:
        readings = [order_read(order_id=o, event_statuses=["created"], client=orders) for o in order_ids]
        start.wait(timeout=30)
        try:
            results = order_readings_start(readings=readings)
            for reading in readings:
                if reading.order_id not in results:  # created by another batch meanwhile: decided alone
                    order_reading_apply(reading=reading, settled_checked=True)
        finally:
            connection.close()

    with ThreadPoolExecutor(len(batches)) as pool:
        for future in [pool.submit(start_batch, batch) for batch in batches]:
            future.result()

    assert_fleet_consistent()
    assert Delivery.objects.count() == 40
    assert Delivery.objects.filter(status="assigned").count() == len(couriers)
