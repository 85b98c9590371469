"""Prometheus metrics of dispatch: what the consumer does, and the fleet as the database has it."""

from collections.abc import Iterator

from django.db import connection
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

EVENTS = Counter("courier_events_total", "Order events processed, by outcome", ["outcome"])
EVENT_SECONDS = Histogram(
    "courier_event_processing_seconds",
    "Time to check one order at service-order and apply it",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DEAD_LETTERS = Counter("courier_dead_letters_total", "Messages sent to the dead-letter topic")
PARTITION_PAUSES = Counter("courier_partition_pauses_total", "Partitions paused because events could not be processed")
BACKOFF_SECONDS = Gauge(
    "courier_partition_backoff_seconds", "Current wait before a paused partition resumes", ["partition"]
)
CONSUMER_LAG = Gauge("courier_consumer_lag", "Messages behind the end of the partition", ["partition"])
RECONCILED = Counter(
    "courier_reconcile_checks_total", "Deliveries checked by the reconcile sweep, by outcome", ["outcome"]
)
RECONCILE_FAILURES = Counter(
    "courier_reconcile_failures_total", "Orders the reconcile sweep could not check while service-order answered"
)
GAVE_UP = Counter(
    "courier_orders_given_up_total", "Orders whose events were dead-lettered after CONSUMER_MAX_ATTEMPTS failures"
)
OUTAGE = Gauge("courier_outage", "1 while a dependency is down and partitions wait for it", ["dependency"])
OUTAGE_SECONDS = Counter(
    "courier_outage_seconds_total", "Time partitions spent paused for a dependency that was down", ["dependency"]
)


class FleetCollector(Collector):
    """Couriers by status, deliveries waiting, overdue and disputed: read from the database at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from couriers.selectors import fleet_counts  # the app registry is ready by the first scrape

        try:
            counts = fleet_counts()
        finally:
            if not connection.in_atomic_block:
                connection.close()  # scrapes come on short-lived threads: never leave a connection behind
        couriers = GaugeMetricFamily("courier_couriers", "Couriers by status", labels=["status"])
        for status, count in counts.couriers_by_status.items():
            couriers.add_metric([status], count)
        yield couriers
        yield GaugeMetricFamily("courier_deliveries_waiting", "Deliveries waiting for a courier", value=counts.waiting)
        yield GaugeMetricFamily(
            "courier_deliveries_overdue", "Assigned deliveries past their deadline", value=counts.overdue
        )
        yield GaugeMetricFamily(
            "courier_deliveries_disputed",
            "Open deliveries whose order an event announced ended while service-order reads it active",
            value=counts.disputed,
        )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # no collection at registration time: the database may not be there yet


OUTBOX_PUBLISHED = Counter("courier_outbox_published_total", "Outbox events the broker acknowledged")


class OutboxCollector(Collector):
    """Outbox rows waiting for the relay, and the age of the oldest: read from the database at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from couriers.services.outbox import outbox_waiting  # the app registry is ready by the first scrape

        try:
            waiting, oldest_age = outbox_waiting()
        finally:
            if not connection.in_atomic_block:
                connection.close()
        yield GaugeMetricFamily("courier_outbox_waiting", "Outbox events not yet published", value=waiting)
        yield GaugeMetricFamily(
            "courier_outbox_oldest_seconds",
            "Age of the oldest outbox event not yet published (0: none)",
            value=oldest_age,
        )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())
