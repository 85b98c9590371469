"""Prometheus metrics of the calls to service-order."""

import time

from prometheus_client import Counter, Histogram

CALLS = Counter(
    "courier_gateway_calls_total",
    "Attempts to service-order (HTTP or gRPC), by result: a status code, a gRPC code, or what went wrong",
    ["result"],
)
LATENCY = Histogram(
    "courier_gateway_call_seconds",
    "Duration of one attempt to service-order",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RETRIES = Counter("courier_gateway_retries_total", "Attempts to service-order repeated after a failure")


def record_attempt(result: str, seconds: float) -> None:
    CALLS.labels(result).inc()
    LATENCY.observe(seconds)


def sleep_before_retry(seconds: float) -> None:
    RETRIES.inc()
    time.sleep(seconds)
