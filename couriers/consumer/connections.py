"""With a database connection pool, a worker thread gives its connection back as soon as its order is done.

A thread then holds a connection only for its transaction, not while it waits on service-order: a few
connections serve every thread (DB_POOL_MAX_SIZE). Without a pool each thread keeps its own connection,
and closing it after every order would mean a new connection for every order.
"""

from collections.abc import Sequence

from django.db import connection

from couriers.consumer.batch import Handler
from couriers.services import EventResult


def returning_connections(handle: Handler) -> Handler:
    """`handle`, giving the calling thread's connection back to the pool after each call, if there is a pool."""
    if not connection.settings_dict["OPTIONS"].get("pool"):
        return handle

    def handle_and_return(*, order_id: str, event_statuses: Sequence[str]) -> EventResult:
        try:
            return handle(order_id=order_id, event_statuses=event_statuses)
        finally:
            connection.close()  # to the pool; the service's transaction is over, committed or rolled back

    return handle_and_return
