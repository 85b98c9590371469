"""Whole-world failures: service-order down, the database unreachable. Logged once each way, and timed."""

import logging
import time
from collections.abc import Callable

from couriers import metrics

logger = logging.getLogger(__name__)


class Outage:
    """One dependency's outage: a warning when it starts, an info line and its duration when it ends."""

    def __init__(self, dependency: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.dependency = dependency
        self.clock = clock
        self.since: float | None = None

    @property
    def active(self) -> bool:
        return self.since is not None

    def begin(self, error: BaseException) -> None:
        if self.since is None:
            self.since = self.clock()
            metrics.OUTAGE.labels(self.dependency).set(1)
            logger.warning("%s is down, pausing partitions and retrying with backoff: %s", self.dependency, error)

    def end(self) -> None:
        if self.since is not None:
            seconds = self.clock() - self.since
            self.since = None
            metrics.OUTAGE.labels(self.dependency).set(0)
            metrics.OUTAGE_SECONDS.labels(self.dependency).inc(seconds)
            logger.info("%s is reachable again after %.1fs: processing resumed", self.dependency, seconds)
