"""What the bench found: figures with stable keys (for --json) and the table printed at the end."""

import os
import platform
from dataclasses import asdict, dataclass
from typing import Any

import django

from sandbox.kafka_server import KAFKA_VERSION

BROKERS = {"embedded": "librdkafka's mock cluster", "real": f"Apache Kafka {KAFKA_VERSION}, one KRaft node"}


@dataclass(frozen=True)
class ConsumerFigures:
    events: int  # distinct events committed
    seconds: float  # from partition assignment to the last event's commit
    events_per_second: float
    orders_per_second: float  # the stream's orders, each brought to its courier, over `seconds`
    order_checks: int  # GETs to service-order, each followed by one transaction
    order_checks_per_second: float
    order_checks_per_order: float  # 1.0: every order checked once, whatever its number of events
    cpu_ms_per_check: float  # user + system from the assignment to the stop, per order check
    cpu_us_per_event: float  # the same CPU per event: comparable whether events were collapsed or not
    peak_db_connections: int | None  # PostgreSQL: the most the consumer held at once; None on SQLite
    peak_rss_mb: float  # VmHWM just before the process was told to stop
    cpu_seconds: float  # user + system over the process's whole life, start-up included


@dataclass(frozen=True)
class RateFigures:
    count: int
    seconds: float
    per_second: float


@dataclass(frozen=True)
class LatencyFigures:
    rate_per_second: float  # the pace of production: half the default consumer's events/s
    events: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


@dataclass(frozen=True)
class MemoryFigures:
    events: int
    rss_mb_early: float  # resident memory once `early_mark` events were committed
    early_mark: int
    rss_mb_end: float  # ... once all `events` were
    growth_mb: float


@dataclass(frozen=True)
class OutboxFigures:
    """What the outbox costs: the default consumer at 0 ms with it (events written and relayed by --relay)
    against the same consumer whose decisions write no event."""

    events: int  # events written (and published) in the default phase
    events_per_check: float
    cpu_ms_per_check_with: float
    cpu_ms_per_check_without: float
    cpu_ms_per_check_cost: float  # with - without: the outbox's CPU per order check (noise: a few hundredths)
    cpu_ms_per_event: float  # that cost per event written and published

    @classmethod
    def of(cls, events: int, with_outbox: ConsumerFigures, without: ConsumerFigures) -> "OutboxFigures":
        cost = with_outbox.cpu_ms_per_check - without.cpu_ms_per_check
        return cls(
            events=events,
            events_per_check=events / with_outbox.order_checks if with_outbox.order_checks else 0.0,
            cpu_ms_per_check_with=with_outbox.cpu_ms_per_check,
            cpu_ms_per_check_without=without.cpu_ms_per_check,
            cpu_ms_per_check_cost=cost,
            cpu_ms_per_event=cost * with_outbox.order_checks / events if events else 0.0,
        )


@dataclass(frozen=True)
class Report:
    machine: dict[str, Any]
    stream: dict[str, int]
    order_latency_ms: float  # the simulated service-order's median answer time in the phases "at latency"
    consumer_default: ConsumerFigures  # at 0 ms, with the outbox (its events relayed by --relay)
    consumer_default_without_outbox: ConsumerFigures  # the same, decisions writing no event: the baseline
    outbox: OutboxFigures
    consumer_one_at_a_time: ConsumerFigures  # at 0 ms
    consumer_default_at_latency: ConsumerFigures | None  # None without --order-latency-ms
    consumer_one_at_a_time_at_latency: ConsumerFigures | None
    backlog: ConsumerFigures | None  # the outage's backlog, at the order latency; None without --backlog
    backlog_uneven: ConsumerFigures | None  # the same, on partitions of unequal size
    raw_kafka_read: RateFigures
    work_ceiling: RateFigures
    latency: LatencyFigures | None  # None with --skip-latency
    memory: MemoryFigures | None  # None without --memory-check
    checks: dict[str, bool]

    @property
    def ratios(self) -> dict[str, float]:
        default = self.consumer_default
        return {
            "default_vs_one_at_a_time_events_per_second": _ratio(
                default.events_per_second, self.consumer_one_at_a_time.events_per_second
            ),
            "default_vs_work_ceiling_orders_per_second": _ratio(
                default.orders_per_second, self.work_ceiling.per_second
            ),
            "default_vs_raw_read_events_per_second": _ratio(default.events_per_second, self.raw_kafka_read.per_second),
            **self._latency_ratios,
        }

    @property
    def _latency_ratios(self) -> dict[str, float]:
        default, one_at_a_time = self.consumer_default_at_latency, self.consumer_one_at_a_time_at_latency
        if default is None or one_at_a_time is None:
            return {}
        return {
            "default_at_latency_vs_default_events_per_second": _ratio(
                default.events_per_second, self.consumer_default.events_per_second
            ),
            "default_vs_one_at_a_time_at_latency_events_per_second": _ratio(
                default.events_per_second, one_at_a_time.events_per_second
            ),
        }

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratios": self.ratios}


def machine_info(database_vendor: str, broker: str, transport: str) -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "platform": platform.platform(),
        "database_vendor": database_vendor,
        "broker": broker,  # a key of BROKERS
        "transport": transport,  # how the consumers asked service-order: http or grpc
    }


def table(report: Report) -> str:
    latency = f"{report.order_latency_ms:g} ms"
    consumers = [
        ("consumer, default, 0 ms", report.consumer_default),
        ("consumer, default, 0 ms, no outbox", report.consumer_default_without_outbox),
        ("consumer, one at a time, 0 ms", report.consumer_one_at_a_time),
        (f"consumer, default, {latency}", report.consumer_default_at_latency),
        (f"consumer, one at a time, {latency}", report.consumer_one_at_a_time_at_latency),
        (f"backlog, default, {latency}", report.backlog),
        (f"backlog, uneven, default, {latency}", report.backlog_uneven),
    ]
    rows = [
        (
            "",
            "count",
            "seconds",
            "per second",
            "checks/s",
            "checks/order",
            "CPU ms/check",
            "CPU us/event",
            "PG conns",
            "RSS MB",
            "CPU s",
        ),
        *(_consumer_row(name, figures) for name, figures in consumers if figures is not None),
        _rate_row("bare Kafka read", report.raw_kafka_read, "events"),
        _rate_row("work ceiling, 8 threads", report.work_ceiling, "orders"),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    broker = report.machine["broker"]
    lines = [f"Kafka broker: {broker} ({BROKERS[broker]}); service-order over {report.machine['transport']}"]
    lines.extend("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows)
    lines.append(_outbox_line(report.outbox))
    lines.extend(_latency_lines(report.latency))
    lines.extend(_memory_lines(report.memory))
    ratios = report.ratios
    lines.append(
        f"ratios: default / one at a time = {ratios['default_vs_one_at_a_time_events_per_second']:.1f}x (events/s); "
        f"default / work ceiling = {ratios['default_vs_work_ceiling_orders_per_second']:.2f} (orders/s); "
        f"default / bare read = {ratios['default_vs_raw_read_events_per_second']:.3f} (events/s)"
    )
    if "default_at_latency_vs_default_events_per_second" in ratios:
        lines.append(
            f"at {latency}: default / its own 0 ms = {ratios['default_at_latency_vs_default_events_per_second']:.2f} "
            f"(events/s); default / one at a time = "
            f"{ratios['default_vs_one_at_a_time_at_latency_events_per_second']:.1f}x (events/s)"
        )
    lines.append("checks: " + ", ".join(f"{name} {'yes' if ok else 'NO'}" for name, ok in report.checks.items()))
    return "\n".join(lines)


def _consumer_row(name: str, figures: ConsumerFigures) -> tuple[str, ...]:
    return (
        name,
        f"{figures.events} events",
        f"{figures.seconds:.2f}",
        f"{figures.events_per_second:.0f} events/s",
        f"{figures.order_checks_per_second:.0f}",
        f"{figures.order_checks_per_order:.2f}",
        f"{figures.cpu_ms_per_check:.2f}",
        f"{figures.cpu_us_per_event:.0f}",
        "n/a" if figures.peak_db_connections is None else str(figures.peak_db_connections),
        f"{figures.peak_rss_mb:.0f}",
        f"{figures.cpu_seconds:.1f}",
    )


def _rate_row(name: str, rate: RateFigures, unit: str) -> tuple[str, ...]:
    return (name, f"{rate.count} {unit}", f"{rate.seconds:.2f}", f"{rate.per_second:.0f} {unit}/s", *[""] * 7)


def _latency_lines(latency: LatencyFigures | None) -> list[str]:
    if latency is None:
        return ["latency: skipped"]
    return [
        f"latency at {latency.rate_per_second:.0f} events/s ({latency.events} events), production to commit: "
        f"p50 {latency.p50_ms:.0f} ms, p95 {latency.p95_ms:.0f} ms, p99 {latency.p99_ms:.0f} ms, max {latency.max_ms:.0f} ms"
    ]


def _memory_lines(memory: MemoryFigures | None) -> list[str]:
    if memory is None:
        return []
    return [
        f"memory: RSS {memory.rss_mb_early:.1f} MB after {memory.early_mark} events, "
        f"{memory.rss_mb_end:.1f} MB after {memory.events} ({memory.growth_mb:+.1f} MB)"
    ]


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else 0.0


def _outbox_line(outbox: OutboxFigures) -> str:
    return (
        f"outbox: {outbox.events} events written and relayed ({outbox.events_per_check:.2f} per check); CPU ms/check "
        f"{outbox.cpu_ms_per_check_with:.2f} with it, {outbox.cpu_ms_per_check_without:.2f} without: "
        f"{outbox.cpu_ms_per_check_cost:+.2f} ms per check ({outbox.cpu_ms_per_event:+.2f} ms per event)"
    )
