"""consume_orders beside its reconcile sweep and under its watchdog, as real processes."""

import json
import re
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest
from django.utils import timezone

from couriers.consumer.watchdog import STALLED_EXIT_CODE
from couriers.models import Delivery, OrderKnowledge
from tests.e2e.conftest import wait_until
from tests.kafka_helpers import produce

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SWEPT_ORDERS = 2000
EVICTION_SIGNS = ("revoked", "lost", "poll interval")  # librdkafka: "Application maximum poll interval ... exceeded"


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away mid-answer (a consumer stopped or killed) is expected here."""


class SlowOrderService:
    """service-order answering every order "cooking" after `delay` seconds; counts the orders asked by prefix."""

    def __init__(self, delay: float) -> None:
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                order_id = unquote(self.path.rstrip("/").rsplit("/", 1)[-1])
                service.released.wait(delay)
                with service.lock:
                    service.asked[order_id.split("-", 1)[0]] += 1
                body = json.dumps({"id": order_id, "status": "cooking"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.asked: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.released = threading.Event()  # set at the end: no answer is held back any longer
        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self, prefix: str) -> int:
        with self.lock:
            return self.asked[prefix]

    def __enter__(self) -> "SlowOrderService":
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow_orders() -> Iterator[SlowOrderService]:
    with SlowOrderService(delay=0.05) as service:
        yield service


def open_deliveries(count: int, prefix: str) -> None:
    """Deliveries waiting for a courier, last checked an hour ago: all due for the sweep."""
    checked = timezone.now() - timedelta(hours=1)
    known = OrderKnowledge.objects.bulk_create(
        OrderKnowledge(order_id=f"{prefix}-{n}", read_status="cooking", read_at=checked) for n in range(count)
    )
    Delivery.objects.bulk_create(Delivery(order=order, status="awaiting_courier") for order in known)


def test_events_keep_flowing_while_a_long_sweep_runs_against_a_slow_service_order(
    kafka_broker, pipeline_topic, consumers, consumer_env, slow_orders
):
    open_deliveries(SWEPT_ORDERS, "swept")
    consumer_env |= {
        "ORDER_SERVICE_URL": slow_orders.url,
        "KAFKA_MAX_POLL_INTERVAL_MS": "10000",  # one sweep run of the old loop (500 checks) took 25 s or more
        "CONSUMER_STALL_SECONDS": "30",
        "RECONCILE_OLDER_THAN": "600",
        "RECONCILE_TIME_LIMIT": "5",
    }
    consumer = consumers.start("--reconcile-every", "1")
    consumers.wait_for_log(consumer, "assigned partitions")
    wait_until(lambda: slow_orders.count("swept") >= 20, 60, "the sweep under way")

    # Waves of events, each sent once the last one is done; the sweep's checks during each wave measure
    # how long an event waited in units of the sweep's own work.
    swept_during_wave = []
    for wave in range(5):
        before = slow_orders.count("swept")
        produce(
            kafka_broker, pipeline_topic, [{"order_id": f"live-{wave}-{n}", "status": "created"} for n in range(10)]
        )
        wait_until(
            lambda wave=wave: Delivery.objects.filter(order__order_id__startswith=f"live-{wave}-").count() == 10,
            60,
            f"wave {wave} processed",
        )
        swept_during_wave.append(slow_orders.count("swept") - before)
    swept_by_then = slow_orders.count("swept")
    # The waves may all be done within the sweep's first run: it goes on beside them up to its time limit.
    consumers.wait_for_log(consumer, "reconcile sweep stopped at its time limit (5.0s)")
    consumer.send_signal(signal.SIGTERM)
    assert consumers.wait_exit(consumer) == 0

    assert swept_by_then < SWEPT_ORDERS, "the sweep ended before the events came: it proves nothing"
    assert sum(swept_during_wave) > 0, "the sweep did not run beside the events"
    # In the loop, an event waited for the rest of a sweep run: up to 500 checks.
    assert max(swept_during_wave) < 100, swept_during_wave
    log, _, stopping = consumers.log(consumer).partition("SIGTERM received")
    assert not [line for line in log.splitlines() if any(sign in line.lower() for sign in EVICTION_SIGNS)]
    assert "partitions [0, 1, 2, 3] revoked" in stopping  # the one revocation: leaving the group at the end


def test_a_consumer_stuck_in_a_handler_exits_non_zero_naming_where(
    kafka_broker, pipeline_topic, consumers, consumer_env
):
    with SlowOrderService(delay=3600) as never_answers:
        consumer_env |= {
            "ORDER_SERVICE_URL": never_answers.url,
            "ORDER_SERVICE_READ_TIMEOUT": "3600",  # the call hangs as long as the service does
            "KAFKA_MAX_POLL_INTERVAL_MS": "7000",
            "CONSUMER_STALL_SECONDS": "8",
        }
        consumer = consumers.start()
        consumers.wait_for_log(consumer, "assigned partitions")
        produce(kafka_broker, pipeline_topic, [{"order_id": "stuck-1", "status": "created"}])

        assert consumers.wait_exit(consumer, timeout=90) == STALLED_EXIT_CODE

    log = consumers.log(consumer)
    assert re.search(r"the consume loop has not turned for \d+s \(CONSUMER_STALL_SECONDS=8.0\)", log), log[-3000:]
    assert "in get_order" in log  # the stuck worker's stack
