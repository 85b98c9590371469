"""The orders of one batch, handled at once on worker threads, each result classified.

Whole-world failures are told apart from one order's failures here:
- service-order: a call to retry later (unreachable, 5xx after the gateway's retries, a bad answer) is
  about that order when other calls of the batch were answered. When none was, or OUTAGE_STREAK calls
  failed in a row, service-order is asked once more for the last order it answered: if that fails too,
  service-order is down (without such an order, it is taken as down: never dead-letter on a guess).
- the database: an OperationalError or InterfaceError is about the order only if a fresh connection
  still answers SELECT 1; otherwise the database is down.
Once a whole-world failure is seen, orders not started yet are left for later, and nothing in the
batch counts as an order's failure.
"""

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from django.db import close_old_connections, connections

from couriers import metrics
from couriers.database import UNREACHABLE, database_answers
from couriers.services import EventResult
from gateway.orders import RETRY_LATER, OrderClient, OrderRequestRejected, OrderServiceError

logger = logging.getLogger(__name__)

OUTAGE_STREAK = 3  # calls failing in a row, with no answer between them, that make service-order suspect


class Handler(Protocol):
    """The service call for one order's events (couriers.services.order_events_handle, client bound)."""

    def __call__(self, *, order_id: str, event_statuses: Sequence[str]) -> EventResult: ...


class Verdict(StrEnum):
    DONE = "done"  # processed: `result` says how
    REJECTED = "rejected"  # service-order refuses the order id: retrying cannot help
    FAILED = "failed"  # this order failed, others did not: one attempt counts
    LATER = "later"  # not tried, or failed while service-order or the database was down
    SUSPECT = "suspect"  # a retry-later failure, until the batch is classified


@dataclass(frozen=True)
class Handled:
    verdict: Verdict
    result: EventResult | None = None
    error: BaseException | None = None
    seconds: float = 0.0


@dataclass
class BatchOutcome:
    handled: dict[str, Handled]
    service_down: BaseException | None = None
    database_down: BaseException | None = None


@dataclass
class _Turn:
    """What the workers of one batch learn together."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    answered: str | None = None  # an order service-order answered for
    streak: int = 0
    database_down: BaseException | None = None

    def stopped(self) -> bool:
        return self.database_down is not None or self.streak >= OUTAGE_STREAK

    def answer(self, order_id: str) -> None:
        with self.lock:
            self.answered, self.streak = order_id, 0

    def fail(self) -> None:
        with self.lock:
            self.streak += 1


def service_answers(client: OrderClient, order_id: str) -> bool:
    """The probe of service-order: does it answer for an order it answered for before?"""
    try:
        client.get_order(order_id)
    except RETRY_LATER:
        return False
    except OrderServiceError:
        return True  # an answer all the same: not found, rejected
    return True


class BatchRunner:
    def __init__(
        self,
        handle: Handler,
        *,
        concurrency: int,
        service_probe: Callable[[str], bool] | None = None,
        database_probe: Callable[[], bool] = database_answers,
    ) -> None:
        self.handle = handle
        self.concurrency = concurrency
        self.service_probe = service_probe
        self.database_probe = database_probe
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="order") if concurrency > 1 else None
        self.thread_state = threading.local()  # per worker thread: the batch its connection was refreshed for
        self.known_order: str | None = None  # the last order service-order answered for: the probe's

    def run(self, statuses: dict[str, list[str]]) -> BatchOutcome:
        """Handle each order's events (order id -> statuses); never two calls for one order at once."""
        turn = _Turn()

        def one(order_id: str) -> Handled:
            return self._one(order_id, statuses[order_id], turn)

        if self.pool is None:
            handled = {order_id: one(order_id) for order_id in statuses}
        else:
            handled = dict(zip(statuses, self.pool.map(one, statuses), strict=True))
        self.known_order = turn.answered or self.known_order
        return self._classify(handled, turn)

    def _one(self, order_id: str, statuses: list[str], turn: _Turn) -> Handled:
        if turn.stopped():
            return Handled(Verdict.LATER)
        started = time.monotonic()
        try:
            self._refresh_connection(batch=turn)
            result = self.handle(order_id=order_id, event_statuses=statuses)
        except UNREACHABLE as exc:
            if self.database_probe():
                return Handled(Verdict.FAILED, error=exc, seconds=time.monotonic() - started)
            turn.database_down = exc
            return Handled(Verdict.LATER, error=exc)
        except RETRY_LATER as exc:
            turn.fail()
            return Handled(Verdict.SUSPECT, error=exc, seconds=time.monotonic() - started)
        except OrderRequestRejected as exc:
            turn.answer(order_id)
            return Handled(Verdict.REJECTED, error=exc)
        except Exception as exc:
            logger.exception("order %s could not be processed", order_id, extra={"order_id": order_id})
            return Handled(Verdict.FAILED, error=exc, seconds=time.monotonic() - started)
        seconds = time.monotonic() - started
        metrics.EVENT_SECONDS.observe(seconds)
        turn.answer(order_id)
        return Handled(Verdict.DONE, result=result, seconds=seconds)

    def _classify(self, handled: dict[str, Handled], turn: _Turn) -> BatchOutcome:
        suspects = [h for h in handled.values() if h.verdict is Verdict.SUSPECT]
        outcome = BatchOutcome(handled, database_down=turn.database_down)
        if suspects and (turn.answered is None or turn.streak >= OUTAGE_STREAK) and not self._service_answers():
            outcome.service_down = suspects[0].error
        whole_world = outcome.service_down is not None or outcome.database_down is not None
        for order_id, h in handled.items():
            if h.verdict is Verdict.SUSPECT or (whole_world and h.verdict is Verdict.FAILED):
                verdict = Verdict.LATER if whole_world else Verdict.FAILED
                handled[order_id] = Handled(verdict, error=h.error, seconds=h.seconds)
        return outcome

    def _service_answers(self) -> bool:
        if self.service_probe is None or self.known_order is None:
            return False
        return self.service_probe(self.known_order)

    def _refresh_connection(self, *, batch: object) -> None:
        """close_old_connections() once per batch in each worker thread (each has its own connection).

        With health checks on, Django pings the connection on its next use after that call: a round trip
        worth paying once per batch, not once per order. `batch` is any object new with each batch.
        """
        if getattr(self.thread_state, "batch", None) is not batch:
            self.thread_state.batch = batch
            close_old_connections()  # outside any atomic block: the service opens its own

    def close(self) -> None:
        if self.pool is None:
            return
        # Each worker thread holds a database connection: make every thread close its own.
        barrier = threading.Barrier(self.concurrency)

        def close_own(_: int) -> None:
            barrier.wait(timeout=10)
            connections.close_all()

        list(self.pool.map(close_own, range(self.concurrency)))
        self.pool.shutdown()
