"""The reconcile sweep on a thread of its own, beside the loop that polls Kafka.

Inside the loop, a run of hundreds of checks at service-order's pace held every event back and kept
the loop from polling past `max.poll.interval.ms`, so the consumer was evicted from its group. Here
the loop never waits for the sweep: the thread has its own database connection (Django's are per
thread), each run is cut at a time limit (what is left stays due for the next run), and a stop
request ends a run between two checks.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from django.db import close_old_connections, connections

from couriers.database import database_answers

logger = logging.getLogger(__name__)


class Sweep(Protocol):
    """The sweep to run: deliveries_reconcile with its client and age bound, taking `stop_when`."""

    def __call__(self, *, stop_when: Callable[[], bool]) -> object: ...


class Sweeper:
    def __init__(
        self,
        *,
        sweep: Sweep,
        every: float,
        time_limit: float,
        database_answers: Callable[[], bool] = database_answers,
    ) -> None:
        self.sweep = sweep
        self.every = every
        self.time_limit = time_limit
        self.database_answers = database_answers
        self.database_down = False
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="reconcile-sweep", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float) -> None:
        """Ask the run in hand to end after its current check; wait for that at most `timeout` seconds."""
        self.stopping.set()
        self.thread.join(timeout)
        if self.thread.is_alive():
            # A daemon thread: the process exits without it. Its delivery's claim only delays that delivery.
            logger.warning("reconcile sweep still inside one check after %ss: leaving it behind", timeout)

    def _run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.run_once()
                connections.close_all()  # not held between runs: with a pool (DB_POOL_MAX_SIZE) it is the workers'
                self.stopping.wait(self.every)
        finally:
            connections.close_all()  # this thread's own connection

    def run_once(self) -> None:
        """One sweep, cut at the time limit; a failure is reported and the next run comes as usual."""
        deadline = time.monotonic() + self.time_limit
        close_old_connections()  # a connection the last outage broke is replaced, not reused
        try:
            self.sweep(stop_when=lambda: self.stopping.is_set() or time.monotonic() >= deadline)
        except Exception as exc:
            self._failed(exc)
            return
        if self.database_down:
            self.database_down = False
            logger.info("reconcile sweep resumed: the database answers again")
        if time.monotonic() >= deadline:
            logger.info(
                "reconcile sweep stopped at its time limit (%ss): the rest waits for the next run", self.time_limit
            )

    def _failed(self, exc: Exception) -> None:
        if self.database_answers():
            logger.exception("reconcile sweep failed: next run in %ss", self.every)
        elif not self.database_down:
            # Said once for the whole outage: every run until the database is back would fail the same way.
            self.database_down = True
            logger.warning(
                "reconcile sweep paused: the database does not answer (%s); trying every %ss", exc, self.every
            )
