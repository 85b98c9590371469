"""Two consumers' batches at once, through the batch paths (recorded together, started together, decided
alone on workers), against completions and cancellations: for the race tests on PostgreSQL."""

import itertools
import random
import threading
from collections.abc import Callable

from django.db import connection

from couriers.consumer.batch import BatchRunner, ServiceChecks, Verdict
from couriers.models import Delivery
from couriers.phases import Phase, phase_of
from tests.fakes import FakeOrderClient

EXPECTED = {Phase.ACTIVE: set(Delivery.OPEN), Phase.DONE: {"completed"}, Phase.CANCELLED: {"cancelled"}}


def race_rounds(
    orders: FakeOrderClient, *, rounds: int, new_per_round: int, seed: int, check: Callable[[int], None]
) -> None:
    """Each round every open delivery's order ends (completed or canceled) while new orders arrive; two
    BatchRunners take the round's events at once, one all of them, the other three quarters, each in its own
    order (new orders in both: their starts collide). `check(round)` runs once both are done."""
    rng = random.Random(seed)
    numbers = itertools.count()
    runners = [BatchRunner(ServiceChecks(orders), concurrency=4) for _ in range(2)]
    try:
        for round_number in range(rounds):
            jobs = _ends(orders, rng)
            for _ in range(new_per_round):
                order_id = f"o{next(numbers)}"
                orders.set(order_id, "cooking")
                jobs.append((order_id, ["created"]))
            everything = rng.sample(jobs, k=len(jobs))
            some = rng.sample(jobs, k=max(1, len(jobs) * 3 // 4))
            _run_together([(runners[0], dict(everything)), (runners[1], dict(some))])
            check(round_number)
            assert_deliveries_match(orders, [order_id for order_id, _ in jobs])
    finally:
        for runner in runners:
            runner.close()


def assert_deliveries_match(orders: FakeOrderClient, order_ids: list[str]) -> None:
    statuses = dict(Delivery.objects.filter(order_id__in=order_ids).values_list("order_id", "status"))
    for order_id in order_ids:
        expected = EXPECTED[phase_of(orders.statuses[order_id])]
        assert statuses.get(order_id) in expected, f"{order_id}: {statuses.get(order_id)}, expected {expected}"


def _ends(orders: FakeOrderClient, rng: random.Random) -> list[tuple[str, list[str]]]:
    jobs = []
    for order_id in Delivery.objects.filter(status__in=Delivery.OPEN).values_list("order_id", flat=True):
        final = rng.choice(["completed", "canceled"])
        orders.set(order_id, final)
        jobs.append((order_id, [final]))
    return jobs


def _run_together(work: list[tuple[BatchRunner, dict[str, list[str]]]]) -> None:
    start = threading.Barrier(len(work))
    failures: list[str] = []

    def run(runner: BatchRunner, batch: dict[str, list[str]]) -> None:
        try:
            connection.ensure_connection()  # connected before the start, so that the batches overlap
            start.wait(timeout=30)
            outcome = runner.run(batch)
            failures.extend(
                f"{o}: {h.verdict} {h.error!r}" for o, h in outcome.handled.items() if h.verdict != Verdict.DONE
            )
        except Exception as exc:  # a thread's exception would otherwise only be printed
            failures.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [], "every order of both batches is decided"
