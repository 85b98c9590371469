"""Many workers dispatching at once with few couriers: row locks keep every invariant.

PostgreSQL only (SELECT ... FOR UPDATE SKIP LOCKED), as CI runs it: on SQLite the IMMEDIATE transactions
serialise the same code, and a test of a race there cannot fail.
"""

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.db.models import Count, Q

from couriers.models import Courier, Delivery
from couriers.services import order_event_handle, order_read, order_reading_apply, order_readings_start
from couriers.services import readings as readings_module
from sandbox.verify import idle_while_waiting
from tests.couriers.batch_races import race_rounds

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

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
                    order_reading_apply(reading=reading)
        finally:
            connection.close()

    with ThreadPoolExecutor(len(batches)) as pool:
        for future in [pool.submit(start_batch, batch) for batch in batches]:
            future.result()

    assert_fleet_consistent()
    assert Delivery.objects.count() == 40
    assert Delivery.objects.filter(status="assigned").count() == len(couriers)


def test_a_start_that_collides_with_another_batchs_falls_back_to_deciding_each_order_alone(
    orders, make_courier, monkeypatch
):
    """Batch A checks that its new orders have no delivery, then batch B starts one of them and commits
    before A inserts: A's insert fails on the unique order id and each of A's orders is decided alone."""
    couriers = [make_courier(f"c{i}") for i in range(3)]
    for order_id in ("a1", "both", "b1"):
        orders.set(order_id, "cooking")
    a_checked, b_committed = threading.Event(), threading.Event()
    real_free_couriers = readings_module.free_couriers

    def free_couriers_once_b_committed(now, *, limit):
        if threading.current_thread().name == "batch-a":  # A has found no delivery of its orders
            a_checked.set()
            assert b_committed.wait(timeout=30)
        return real_free_couriers(now, limit=limit)

    monkeypatch.setattr(readings_module, "free_couriers", free_couriers_once_b_committed)
    started: dict[str, dict] = {}

    def start(name: str, order_ids: list[str]) -> None:
        try:
            readings = [order_read(order_id=o, event_statuses=["created"], client=orders) for o in order_ids]
            if name == "batch-b":
                assert a_checked.wait(timeout=30)
            started[name] = order_readings_start(readings=readings)
            if name == "batch-b":
                b_committed.set()
            for reading in readings:
                if reading.order_id not in started[name]:
                    order_reading_apply(reading=reading)
        finally:
            a_checked.set()  # whatever failed, the other batch is not left waiting
            b_committed.set()
            connection.close()

    batches = [threading.Thread(target=start, name=name, args=(name, ids)) for name, ids in BATCHES]
    for thread in batches:
        thread.start()
    for thread in batches:
        thread.join()

    assert started["batch-a"] == {}, "the collision sent A's orders the long way"
    assert set(started["batch-b"]) == {"both", "b1"}
    assert_fleet_consistent()
    assert sorted(Delivery.objects.values_list("order_id", flat=True)) == ["a1", "b1", "both"]
    assert Delivery.objects.filter(status="assigned").count() == len(couriers)


BATCHES = [("batch-a", ["a1", "both"]), ("batch-b", ["both", "b1"])]


def test_two_consumers_batches_race_new_orders_against_completions_and_cancellations(orders, make_courier):
    """Couriers freed by completions and cancellations while both consumers start, record and decide."""
    for i in range(3):
        make_courier(f"c{i}")

    def check(round_number: int) -> None:
        assert_fleet_consistent()
        assert Delivery.objects.filter(status="assigned").count() == min(
            3, Delivery.objects.filter(status__in=Delivery.OPEN).count()
        ), f"round {round_number}"

    race_rounds(orders, rounds=12, new_per_round=5, seed=3, check=check)

    assert Delivery.objects.filter(status__in=["completed", "cancelled"]).exists()
