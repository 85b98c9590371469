"""Snapshots of a running demo: service-order's side from the simulator, ours from metrics and the database."""

import time
from collections import Counter, deque

from couriers.selectors import fleet_counts
from sandbox.demo import consumer_metrics
from sandbox.demo.progress import Snapshot
from sandbox.orders import TERMINAL
from sandbox.publisher import PublishRecord
from sandbox.simulator import Simulator

RATE_WINDOW = 10  # samples the processing rate is averaged over


def produced(record: PublishRecord) -> int:
    return record.valid_total + len(record.unknown) + record.malformed_total


class Watcher:
    def __init__(self, simulator: Simulator, metrics_port: int, orders: int) -> None:
        self.simulator = simulator
        self.metrics_port = metrics_port
        self.orders = orders
        self.outcomes: Counter[str] = Counter()  # the last scrape that answered
        self.sweep: Counter[str] = Counter()  # the sweep's checks by outcome: the ends it settled, no event
        self._samples: deque[tuple[float, int]] = deque(maxlen=RATE_WINDOW)

    def finished(self) -> tuple[int, int]:
        """(orders created, orders in a terminal status) at service-order."""
        truth = self.simulator.truth()
        return len(truth), sum(status in TERMINAL for status in truth.values())

    def scrape(self) -> bool:
        scraped = consumer_metrics.outcomes(self.metrics_port)
        if scraped is not None:
            self.outcomes = scraped
            self.sweep = (
                consumer_metrics.outcomes(self.metrics_port, sample=consumer_metrics.SWEEP_SAMPLE) or self.sweep
            )
        return scraped is not None

    def snapshot(self, stage: str) -> Snapshot:
        self.scrape()
        created, finished = self.finished()
        processed = sum(self.outcomes.values())
        fleet = fleet_counts()
        return Snapshot(
            stage=stage,
            orders_total=self.orders,
            orders_created=created,
            orders_finished=finished,
            produced=produced(self.simulator.record()),
            processed=processed,
            rate=self._rate(processed),
            couriers_busy=fleet.couriers_by_status.get("busy", 0),
            couriers_total=sum(fleet.couriers_by_status.values()),
            waiting=fleet.waiting,
            outcomes=Counter(self.outcomes),
        )

    def _rate(self, processed: int) -> float:
        now = time.monotonic()
        self._samples.append((now, processed))
        (first_at, first), (last_at, last) = self._samples[0], self._samples[-1]
        return (last - first) / (last_at - first_at) if last_at > first_at else 0.0
