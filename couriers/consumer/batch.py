"""The orders of one batch: service-order asked on worker threads, each answer decided as it comes, each result classified.

Whole-world failures are told apart from one order's failures here:
- service-order: a call to retry later (unreachable, 5xx after the gateway's retries, a bad answer) is
  about that order when service-order answered other calls after it. When it answered none, or the
  batch's last calls failed (an outage starting at its end), service-order is asked once more, for an
  order it answered and that is not failing now (else for an order that does not exist: its not-found is
  an answer too): if that fails too, service-order is down. An id the gateway refuses itself
  (InvalidOrderId) was never sent: neither an answer nor an order the probe may ask.
- the database: an OperationalError or InterfaceError is about the order only if a fresh connection
  still answers SELECT 1; otherwise the database is down. A failure to record readings together is
  nobody's: those orders are decided one by one, where a failure is the order's.
When OUTAGE_STREAK calls fail in a row with no answer between (poison orders first in a batch, or an
outage), service-order is probed at once: if it answers, the batch goes on; if not, it stops starting orders.
Once a whole-world failure is seen, orders not started yet are left for later, and nothing in the
batch counts as an order's failure. So are the orders not started once the batch's time budget is spent:
the calls under way end within their own deadline, so the loop polls again within max.poll.interval.ms.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from queue import Empty, SimpleQueue
from typing import Protocol

from django.db import DatabaseError, connection

from couriers import metrics
from couriers.database import UNREACHABLE, connection_release, database_answers
from couriers.services import (
    EventResult,
    Reading,
    order_read,
    order_reading_apply,
    order_readings_record_settled,
    order_readings_start,
)
from gateway.order_ids import InvalidOrderId
from gateway.orders import PROBE_ORDER_ID, RETRY_LATER, OrderClient, OrderRequestRejected

logger = logging.getLogger(__name__)

OUTAGE_STREAK = 3  # calls failing in a row, with no answer between them, that make service-order suspect
DECIDERS = 4  # threads deciding orders one transaction each: DB_POOL_MAX_SIZE's default connections


class Checks(Protocol):
    """The service calls of a batch: reading service-order, then deciding in the database."""

    def read(self, order_id: str, event_statuses: Sequence[str], produced_at: datetime | None = None) -> Reading:
        """service-order's answer for one order; no database (called on worker threads). `produced_at`: when
        the newest of its events was produced, if known."""
        ...

    def record_settled(self, readings: Sequence[Reading]) -> dict[str, EventResult]:
        """The readings that only need recording, recorded at once; their results by order id."""
        ...

    def start(self, readings: Sequence[Reading]) -> dict[str, EventResult]:
        """The orders with no delivery yet, given their couriers at once; their results by order id."""
        ...

    def apply(self, reading: Reading) -> EventResult:
        """The decision for one reading that record_settled() and start() left out: one transaction."""
        ...


@dataclass(frozen=True)
class ServiceChecks:
    """Checks by couriers.services, asking service-order through `client`."""

    client: OrderClient

    def read(self, order_id: str, event_statuses: Sequence[str], produced_at: datetime | None = None) -> Reading:
        return order_read(order_id=order_id, event_statuses=event_statuses, client=self.client, produced_at=produced_at)

    def record_settled(self, readings: Sequence[Reading]) -> dict[str, EventResult]:
        return order_readings_record_settled(readings=readings)

    def start(self, readings: Sequence[Reading]) -> dict[str, EventResult]:
        return order_readings_start(readings=readings)

    def apply(self, reading: Reading) -> EventResult:
        return order_reading_apply(reading=reading)


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
    reading: Reading | None = None  # what decided an order done


@dataclass
class BatchOutcome:
    handled: dict[str, Handled]
    service_down: BaseException | None = None
    database_down: BaseException | None = None


def _done_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


@dataclass
class _Turn:
    """What the workers of one batch learn together."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    heard: bool = False  # service-order answered a call of this batch (its own rejection included)
    answered: str | None = None  # an order it answered with a status or not-found: one the probe may ask
    streak: int = 0  # calls failed since its last answer
    failing: set[str] = field(default_factory=set)  # orders whose call failed: never the probe's
    database_down: BaseException | None = None
    deadline: float | None = None  # on `clock`: no order is started past it
    clock: Callable[[], float] = time.monotonic
    probed: threading.Event = field(default_factory=_done_event)  # cleared while a probe says whether to go on

    def stopped(self) -> bool:
        return self.database_down is not None or self.streak >= OUTAGE_STREAK or self.out_of_time()

    def out_of_time(self) -> bool:
        return self.deadline is not None and self.clock() >= self.deadline

    def answer(self, order_id: str | None) -> None:
        with self.lock:
            self.heard, self.streak = True, 0
            self.answered = order_id or self.answered

    def fail(self, order_id: str) -> bool:
        """One more call failed; True for the one that makes the streak suspect: it asks the probe."""
        with self.lock:
            self.streak += 1
            self.failing.add(order_id)
            if self.streak != OUTAGE_STREAK:
                return False
            self.probed.clear()
            return True

    def suspicious(self) -> bool:
        """Whether the batch's failures may be an outage: no answer at all, or none since the last failures."""
        return not self.heard or self.streak > 0


@dataclass(frozen=True)
class _Answered:
    reading: Reading
    seconds: float  # the call to service-order


@dataclass
class _Arrivals:
    """The batch's orders in arrival order, and how far from the first one every order has its answer."""

    order: list[str]
    answered: set[str] = field(default_factory=set)
    reached: int = 0  # orders order[:reached] have their answers
    held: list[_Answered] = field(default_factory=list)  # answers waiting for an earlier order's
    position: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.position = {order_id: i for i, order_id in enumerate(self.order)}

    def arrive(self, order_ids: Iterable[str]) -> None:
        self.answered.update(order_ids)
        while self.reached < len(self.order) and self.order[self.reached] in self.answered:
            self.reached += 1

    def in_turn(self, answers: list[_Answered]) -> list[_Answered]:
        """The held answers and these whose every earlier order has its answer, in arrival order; holds the rest."""
        waiting = sorted(self.held + answers, key=lambda answer: self.position[answer.reading.order_id])
        ready = [answer for answer in waiting if self.position[answer.reading.order_id] < self.reached]
        self.held = waiting[len(ready) :]
        return ready


def _ignore(order_id: str, handled: Handled) -> None:
    """No one to tell of an order done."""


class BatchRunner:
    """Reads service-order for the orders of a batch on worker threads, and decides the answers as they come.

    Each wave of answers (what came while the wave before was decided), on this thread, together: the
    readings that only need recording (most: duplicates about orders that have their courier), in one
    transaction per status; then the orders seen for the first time, given their couriers in one transaction.
    Each of the others (an order waiting for a courier, one that ended, ...) is decided in a transaction of
    its own, on the deciding threads, each giving its connection back after it: a thread calling
    service-order holds no connection.
    """

    def __init__(
        self,
        checks: Checks,
        *,
        concurrency: int,
        service_probe: Callable[[str], bool] | None = None,
        database_probe: Callable[[], bool] = database_answers,
        budget: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.checks = checks
        self.budget = budget  # seconds after which a batch starts no more orders
        self.clock = clock
        self.service_probe = service_probe
        self.database_probe = database_probe
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="order") if concurrency > 1 else None
        # Threads of their own: queued behind calls still in flight on `pool`, decisions would wait for them.
        self.deciders = (
            ThreadPoolExecutor(min(concurrency, DECIDERS), thread_name_prefix="decide") if concurrency > 1 else None
        )
        self.known_order: str | None = None  # the last order service-order answered for: the probe's

    def run(
        self,
        statuses: dict[str, list[str]],
        on_done: Callable[[str, Handled], object] = _ignore,
        produced: dict[str, datetime] | None = None,
    ) -> BatchOutcome:
        """Handle each order's events (order id -> statuses); one call to service-order per order. `produced`:
        when each order's newest event was produced, where known.

        Answers are decided as they come, in waves (what arrived while the wave before was decided), not
        once the slowest call returns; `on_done(order_id, handled)` is told of each order done, as it is.
        """
        turn = _Turn(deadline=None if self.budget is None else self.clock() + self.budget, clock=self.clock)
        connection_release()  # none held while the workers wait on service-order
        arrivals = _Arrivals(list(statuses))
        handled: dict[str, Handled] = {}
        for wave in self._answers(statuses, produced or {}, turn):
            decided = self._decide(wave, arrivals, turn)
            for order_id, h in decided.items():
                if h.verdict is Verdict.DONE:
                    on_done(order_id, h)
            handled.update(decided)
        if self.known_order in turn.failing:
            self.known_order = None  # failing now: asked by the probe, it would say service-order is down
        self.known_order = turn.answered or self.known_order
        if turn.out_of_time():
            left = sum(h.verdict is Verdict.LATER for h in handled.values())
            logger.warning("batch cut at its time budget (%ss): %s orders left for later", self.budget, left)
        return self._classify({order_id: handled[order_id] for order_id in statuses}, turn)

    def _answers(
        self, statuses: dict[str, list[str]], produced: dict[str, datetime], turn: _Turn
    ) -> Iterator[dict[str, _Answered | Handled]]:
        """The calls' results in waves: each is what returned while the one before was being decided."""
        if self.pool is None:
            yield {
                order_id: self._read(order_id, order_statuses, produced.get(order_id), turn)
                for order_id, order_statuses in statuses.items()
            }
            return
        returned: SimpleQueue[tuple[str, _Answered | Handled]] = SimpleQueue()

        def read(order_id: str, order_statuses: list[str]) -> None:
            result: _Answered | Handled = Handled(Verdict.LATER)
            try:
                result = self._read(order_id, order_statuses, produced.get(order_id), turn)
            finally:  # always told: the loop below waits for every order
                returned.put((order_id, result))

        for order_id, order_statuses in statuses.items():
            self.pool.submit(read, order_id, order_statuses)
        waiting = len(statuses)
        while waiting:
            wave = dict([returned.get()])  # a queue, not futures.wait(): that walks every pending call each time
            with suppress(Empty):
                while True:
                    wave.update([returned.get_nowait()])
            waiting -= len(wave)
            yield wave

    def _read(
        self, order_id: str, statuses: list[str], produced_at: datetime | None, turn: _Turn
    ) -> _Answered | Handled:
        turn.probed.wait()  # a probe under way says whether orders are still started
        if turn.stopped():
            return Handled(Verdict.LATER)
        started = time.monotonic()
        try:
            reading = self.checks.read(order_id, statuses, produced_at)
        except RETRY_LATER as exc:
            if turn.fail(order_id):
                self._probe(turn)
            return Handled(Verdict.SUSPECT, error=exc, seconds=time.monotonic() - started)
        except OrderRequestRejected as exc:
            turn.answer(None)  # service-order's own refusal: it is up, but this order is not one to probe
            return Handled(Verdict.REJECTED, error=exc)
        except InvalidOrderId as exc:
            # Never sent (events refuse such ids: a bug upstream): no answer from service-order, so not a
            # rejection either; the order's failure, set aside after CONSUMER_MAX_ATTEMPTS.
            logger.error("order %s refused before asking service-order: %s", order_id, exc)
            return Handled(Verdict.FAILED, error=exc, seconds=time.monotonic() - started)
        except Exception as exc:
            logger.exception("order %s could not be processed", order_id, extra={"order_id": order_id})
            return Handled(Verdict.FAILED, error=exc, seconds=time.monotonic() - started)
        turn.answer(order_id)
        return _Answered(reading, time.monotonic() - started)

    def _decide(self, wave: dict[str, _Answered | Handled], arrivals: _Arrivals, turn: _Turn) -> dict[str, Handled]:
        """Together first: the readings only to record, then the new orders. Then each of the rest alone.

        The new orders and the rest are decided in arrival order: an answer whose order came after one still
        asked is held to a later wave, so that couriers go to new orders first come, first served.
        """
        handled = {order_id: h for order_id, h in wave.items() if isinstance(h, Handled)}
        arrivals.arrive(wave)
        recorded, rest = self._together(
            self.checks.record_settled, [a for a in wave.values() if isinstance(a, _Answered)], turn
        )
        started, rest = self._together(self.checks.start, arrivals.in_turn(rest), turn)
        handled |= recorded | started
        connection_release()  # to the pool, for the workers deciding the rest
        for answer, decided in zip(rest, self._apply_all(rest, turn), strict=True):
            handled[answer.reading.order_id] = decided
        return handled

    def _apply_all(self, answers: list[_Answered], turn: _Turn) -> list[Handled]:
        """Each on its own (an order that waits or ended: its delivery and a courier locked); on workers, the
        transactions' waits on the database overlap."""
        if self.deciders is None or len(answers) < 2:
            return [self._apply(answer, turn) for answer in answers]

        def on_worker(answer: _Answered) -> Handled:
            try:
                return self._apply(answer, turn)
            finally:
                with suppress(DatabaseError):  # a broken connection may fail to close; it is dropped all the same
                    connection.close()  # to the pool: a worker holds a connection only for a transaction

        return list(self.deciders.map(on_worker, answers))

    def _together(
        self, step: Callable[[Sequence[Reading]], dict[str, EventResult]], answers: list[_Answered], turn: _Turn
    ) -> tuple[dict[str, Handled], list[_Answered]]:
        """The orders `step` decided at once, and the answers it left out."""
        started = time.monotonic()
        results = self._step(step, [answer.reading for answer in answers], turn)
        seconds = time.monotonic() - started
        done = {
            a.reading.order_id: self._done(a.reading, results[a.reading.order_id], a.seconds + seconds)
            for a in answers
            if a.reading.order_id in results
        }
        return done, [answer for answer in answers if answer.reading.order_id not in results]

    def _step(
        self, step: Callable[[Sequence[Reading]], dict[str, EventResult]], readings: list[Reading], turn: _Turn
    ) -> dict[str, EventResult]:
        if not readings or turn.database_down is not None:
            return {}
        try:
            return step(readings)
        except UNREACHABLE as exc:
            if not self.database_probe():
                turn.database_down = exc
        except Exception:
            logger.exception("%s orders could not be decided together: each is decided alone", len(readings))
        return {}  # each reading goes the long way, where a failure is its order's

    def _apply(self, answer: _Answered, turn: _Turn) -> Handled:
        if turn.database_down is not None:
            return Handled(Verdict.LATER)
        order_id = answer.reading.order_id
        started = time.monotonic()
        try:
            result = self.checks.apply(answer.reading)
        except UNREACHABLE as exc:
            if self.database_probe():
                return Handled(Verdict.FAILED, error=exc, seconds=answer.seconds + time.monotonic() - started)
            turn.database_down = exc
            return Handled(Verdict.LATER, error=exc)
        except Exception as exc:
            logger.exception("order %s could not be processed", order_id, extra={"order_id": order_id})
            return Handled(Verdict.FAILED, error=exc, seconds=answer.seconds + time.monotonic() - started)
        return self._done(answer.reading, result, answer.seconds + time.monotonic() - started)

    @staticmethod
    def _done(reading: Reading, result: EventResult, seconds: float) -> Handled:
        metrics.EVENT_SECONDS.observe(seconds)
        return Handled(Verdict.DONE, result=result, seconds=seconds, reading=reading)

    def _classify(self, handled: dict[str, Handled], turn: _Turn) -> BatchOutcome:
        suspects = [h for h in handled.values() if h.verdict is Verdict.SUSPECT]
        outcome = BatchOutcome(handled, database_down=turn.database_down)
        if suspects and turn.suspicious() and not self._service_answers(turn):
            outcome.service_down = suspects[0].error
        whole_world = outcome.service_down is not None or outcome.database_down is not None
        for order_id, h in handled.items():
            if h.verdict is Verdict.SUSPECT or (whole_world and h.verdict is Verdict.FAILED):
                verdict = Verdict.LATER if whole_world else Verdict.FAILED
                handled[order_id] = Handled(verdict, error=h.error, seconds=h.seconds)
        return outcome

    def _probe(self, turn: _Turn) -> None:
        """Calls failing in a row with no answer between: poison orders, or an outage. Asked once: if
        service-order answers, the batch goes on starting orders (else it stops, see _Turn.stopped)."""
        try:
            if self._service_answers(turn):
                turn.answer(None)
        finally:
            turn.probed.set()

    def _service_answers(self, turn: _Turn) -> bool:
        if self.service_probe is None:
            return False
        return self.service_probe(self._probe_order(turn))

    def _probe_order(self, turn: _Turn) -> str:
        """An order service-order answered: in this batch, else before and not failing now; else none."""
        if turn.answered is not None:
            return turn.answered
        if self.known_order is not None and self.known_order not in turn.failing:
            return self.known_order
        return PROBE_ORDER_ID

    def close(self) -> None:
        for pool in (self.pool, self.deciders):
            if pool is not None:
                pool.shutdown()
