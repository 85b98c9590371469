"""Worker threads and the database connection pool: a connection is held for an order's work, no longer."""

import threading
from collections.abc import Sequence

import pytest
from django.db import connection

from couriers.consumer.connections import returning_connections
from couriers.models import Delivery
from couriers.services import EventResult, Outcome

pooled = pytest.mark.skipif(
    not connection.settings_dict["OPTIONS"].get("pool"), reason="needs PostgreSQL with DB_POOL_MAX_SIZE > 0"
)


def counting_handle(*, order_id: str, event_statuses: Sequence[str]) -> EventResult:
    Delivery.objects.filter(order_id=order_id).count()  # the order's database work
    return EventResult(Outcome.UNCHANGED, "cooking")


def in_a_worker_thread(handle) -> bool:
    """Whether the worker thread still holds a database connection after handling an order."""
    held: list[bool] = []

    def work() -> None:
        handle(order_id="o1", event_statuses=["created"])
        held.append(connection.connection is not None)
        connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    return held[0]


@pooled
@pytest.mark.django_db(transaction=True)
def test_with_a_pool_a_worker_gives_its_connection_back_after_each_order():
    assert in_a_worker_thread(counting_handle), "without the wrapper the thread keeps its connection"
    assert not in_a_worker_thread(returning_connections(counting_handle))


def test_without_a_pool_each_thread_keeps_its_connection(monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", {})
    assert returning_connections(counting_handle) is counting_handle
