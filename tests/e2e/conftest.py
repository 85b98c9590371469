"""End to end: the sandbox broker and service-order simulator, consume_orders as real processes."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from django.conf import settings
from django.db import connection

from couriers.models import Delivery, OrderKnowledge
from sandbox.chaos import Chaos
from sandbox.simulator import Simulator
from tests.brokers import ON_BOTH, Broker

ROOT = Path(settings.BASE_DIR)

# The chaos the mission is about: duplicates, disorder, delays, orders cancelled, deleted and edited,
# events for orders that never existed, and malformed events.
CHAOS = Chaos(
    duplicate_probability=0.3,
    max_copies=3,
    reorder_window=0.5,
    max_delay=0.3,
    cancel_fraction=0.15,
    delete_fraction=0.1,
    update_fraction=0.05,
    unknown_probability=0.05,
    malformed_probability=0.05,
)

# The simulator's reads follow its events, for the tests about something else than service-order's read
# rule (outages, poison, rebalances, lost events): with the faithful reads (the default) every order that
# completes is disputed first, which test_disputes.py covers.
CONSISTENT = "consistent"


def database_url() -> str:
    """The URL of the test database, for processes outside pytest."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


class Consumers:
    """Starts `manage.py consume_orders` processes against one topic and group; stops them all at the end."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.processes: list[tuple[subprocess.Popen, Path]] = []

    def start(self, *args: str, **env: str) -> subprocess.Popen:
        log = self.logs / f"consumer-{len(self.processes)}.log"
        process = subprocess.Popen(
            [sys.executable, "manage.py", "consume_orders", *args],
            cwd=ROOT,
            env={**self.env, **env},
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.processes.append((process, log))
        return process

    def log(self, process: subprocess.Popen) -> str:
        return next(log for p, log in self.processes if p is process).read_text(errors="replace")

    def wait_for_log(self, process: subprocess.Popen, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log(process):
            assert process.poll() is None, f"consumer exited ({process.returncode}):\n{self.log(process)[-3000:]}"
            assert time.monotonic() < deadline, f"{text!r} not logged within {timeout}s:\n{self.log(process)[-3000:]}"
            time.sleep(0.2)

    def wait_exit(self, process: subprocess.Popen, timeout: float = 120.0) -> int:
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"consumer still running after {timeout}s:\n{self.log(process)[-3000:]}")

    def stop_all(self) -> None:
        for process, _ in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(10)


# Every end-to-end test that talks to Kafka runs twice: on the mock and on Apache Kafka.
kafka, kafka_broker = ON_BOTH


@pytest.fixture
def pipeline_topic(kafka: Broker) -> str:
    """A fresh topic and its DLQ, created up front as in production (no auto-creation there)."""
    topic = f"orders.{uuid4().hex}"
    kafka.create_topics(topic, f"{topic}.dlq")
    return topic


@pytest.fixture
def consumer_env(kafka_broker: str, pipeline_topic: str, transactional_db: None) -> dict[str, str]:
    """Environment of a consumer process; ORDER_SERVICE_URL is the test's to set."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "courier_project.test_settings",
        "DATABASE_URL": database_url(),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_broker,
        "KAFKA_TOPIC": pipeline_topic,
        "KAFKA_DLQ_TOPIC": f"{pipeline_topic}.dlq",
        "KAFKA_GROUP_ID": f"group-{uuid4().hex}",
        "KAFKA_SESSION_TIMEOUT_MS": "6000",
        "CONSUMER_BACKOFF_INITIAL": "0.2",
        "CONSUMER_BACKOFF_MAX": "1",
        "ORDER_SERVICE_RETRIES": "1",
        "ORDER_SERVICE_BACKOFF_BASE": "0.05",
        "ORDER_SERVICE_READ_TIMEOUT": "2",
        "CONSUMER_CONCURRENCY": "4",
        "DB_CONN_MAX_AGE": "0",
        "DB_POOL_MAX_SIZE": "4",  # production's default, whatever the test process uses
    }


@pytest.fixture(params=["http", "grpc"])
def transport(request: pytest.FixtureRequest) -> str:
    """How the consumer asks service-order: a test taking this fixture runs once per transport."""
    return request.param


def point_at(simulator: Simulator, env: dict[str, str], transport: str) -> None:
    """The consumer of `env` asks `simulator` (made with grpc_port for gRPC) over `transport`."""
    env["ORDER_SERVICE_URL"] = simulator.url
    env["ORDER_SERVICE_TRANSPORT"] = transport
    if transport == "grpc":
        env["ORDER_SERVICE_GRPC_TARGET"] = simulator.grpc_target


@pytest.fixture
def consumers(consumer_env: dict[str, str], tmp_path: Path) -> Iterator[Consumers]:
    running = Consumers(consumer_env, tmp_path)
    yield running
    running.stop_all()
    assert_no_delivery_for_ids_never_had()


def assert_no_delivery_for_ids_never_had() -> None:
    """Every end-to-end run: an id service-order answered 404 to has no delivery, unless it had one before
    (a deleted order: its start, then its cancellation, so at least two versions)."""
    ghosts = Delivery.objects.filter(order__read_status=OrderKnowledge.NOT_FOUND, version__lt=2)
    assert not ghosts.exists(), f"deliveries for ids service-order never had: {list(ghosts[:5])}"


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.1)
