"""The lost wake-up, created on purpose: orders queue while couriers are freed, on PostgreSQL.

Dispatch takes couriers and waiting deliveries with SKIP LOCKED. A transaction that queues an order
because every courier is busy or locked can commit next to one that frees a courier and finds no
waiting order (the new one is not committed yet). Once all is quiet, no courier may then be
available while a delivery awaits a courier.
"""

import itertools
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from couriers.models import Delivery
from couriers.services import deliveries_match_waiting, order_event_handle
from sandbox.verify import idle_while_waiting
from tests.couriers.batch_races import race_rounds
from tests.couriers.factories import create_courier, create_delivery
from tests.fakes import FakeOrderClient

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# Few couriers and few jobs a round: each job's transaction overlaps the others' (on today's code about
# half the rounds ended with a courier idle next to a waiting order).
COURIERS = 2
NEW_ORDERS_PER_ROUND = 2
ROUNDS = 40
WORKERS = 4


def run_together(jobs: list[tuple[str, str]], orders: FakeOrderClient, rng: random.Random) -> None:
    """Handle every (order_id, event_status) at once on WORKERS threads, released by one barrier."""
    rng.shuffle(jobs)
    shares = [jobs[i::WORKERS] for i in range(WORKERS)]
    start = threading.Barrier(WORKERS)

    def work(share: list[tuple[str, str]]) -> None:
        try:
            connection.ensure_connection()  # connected before the start, so that the work overlaps
            start.wait(timeout=30)
            for order_id, event_status in share:
                order_event_handle(order_id=order_id, event_status=event_status, client=orders)
        finally:
            connection.close()

    with ThreadPoolExecutor(WORKERS) as pool:
        for future in [pool.submit(work, share) for share in shares]:
            future.result()


def test_no_courier_stays_available_while_an_order_waits(orders, make_courier):
    for i in range(COURIERS):
        make_courier(f"c{i}")
    rng = random.Random(11)
    numbers = itertools.count()
    for round_number in range(ROUNDS):
        # Every open delivery ends (completed or cancelled) while new orders arrive, all at once.
        jobs = []
        for order_id in Delivery.objects.filter(status__in=Delivery.OPEN).values_list("order_id", flat=True):
            final = rng.choice(["completed", "canceled"])
            orders.set(order_id, final)
            jobs.append((order_id, final))
        for _ in range(NEW_ORDERS_PER_ROUND):
            order_id = f"o{next(numbers)}"
            orders.set(order_id, "cooking")
            jobs.append((order_id, "created"))

        run_together(jobs, orders, rng)

        assert idle_while_waiting() == [], f"round {round_number}"


def test_no_courier_stays_available_while_an_order_waits_through_the_batch_paths(orders, make_courier):
    # The same race, through two consumers' batches: new orders started together, the rest decided on workers.
    for i in range(COURIERS):
        make_courier(f"c{i}")

    def check(round_number: int) -> None:
        assert idle_while_waiting() == [], f"round {round_number}"

    race_rounds(orders, rounds=ROUNDS, new_per_round=NEW_ORDERS_PER_ROUND + 1, seed=11, check=check)


def test_the_matching_step_passes_by_a_waiting_delivery_another_transaction_holds():
    # Matchers of several replicas must not queue on the oldest waiting row, each holding a connection.
    create_delivery(order_id="oldest")
    create_delivery(order_id="next")
    courier = create_courier()
    held, done = threading.Event(), threading.Event()

    def hold_the_oldest() -> None:
        try:
            with transaction.atomic():
                Delivery.objects.select_for_update().get(order_id="oldest")
                held.set()
                done.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_oldest)
    holder.start()
    try:
        assert held.wait(timeout=30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")  # waiting on the held row: an error, not a hang
        paired = deliveries_match_waiting()
    finally:
        done.set()
        holder.join()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")

    assert paired == 1
    assert Delivery.objects.get(order_id="next").courier == courier
    assert Delivery.objects.get(order_id="oldest").status == Delivery.Status.AWAITING_COURIER
