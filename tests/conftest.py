import itertools
import os
from collections.abc import Iterator
from uuid import uuid4

import pytest
from django.core.cache import cache
from django.db import connection

from couriers.models import Courier
from couriers.services import courier_create
from sandbox.broker import EmbeddedBroker
from sandbox.kafka_server import KafkaServer
from tests.brokers import Broker, alive
from tests.fakes import FakeOrderClient

_phones = itertools.count(10_000_000_000)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Throttle counters start at zero in every test."""
    cache.clear()


@pytest.fixture
def pool_of_one() -> Iterator[None]:
    """PostgreSQL's pool cut to one connection, waited for at most 2 s: a thread that holds it starves the rest."""
    options = connection.settings_dict["OPTIONS"]
    saved = options.get("pool")
    connection.close()
    connection.close_pool()
    options["pool"] = {"min_size": 1, "max_size": 1, "timeout": 2.0}
    try:
        yield
    finally:
        connection.close()
        connection.close_pool()
        if saved is None:
            options.pop("pool")
        else:
            options["pool"] = saved


@pytest.fixture(scope="session")
def embedded_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A mock Kafka cluster in a process of its own, for the whole session; its output in a log of its own.

    Tests take it through `kafka`, which starts a new one if it died. A test that kills, freezes or fills a
    broker starts one of its own instead (`EmbeddedBroker().start()`).
    """
    with EmbeddedBroker(log=tmp_path_factory.mktemp("embedded-kafka") / "broker.log") as broker:
        yield broker


@pytest.fixture(scope="session")
def real_kafka() -> Iterator[KafkaServer]:
    """Apache Kafka for the whole session, started when a test first needs it (a JVM is heavy on two cores)."""
    with KafkaServer(tls=True) as server:
        yield server


@pytest.fixture
def kafka(embedded_kafka: EmbeddedBroker) -> Broker:
    """The broker of the tests here: the mock, alive. Modules that run on both override it with tests.brokers.BOTH."""
    return alive(embedded_kafka)


@pytest.fixture
def kafka_broker(kafka: Broker) -> str:
    """Bootstrap servers of `kafka`."""
    return kafka.bootstrap_servers


@pytest.fixture
def topic(kafka: Broker) -> str:
    """A fresh topic per test, so that no test reads another's events."""
    name = f"test.{uuid4().hex}"
    kafka.create_topics(name)
    return name


@pytest.fixture
def orders() -> FakeOrderClient:
    return FakeOrderClient()


@pytest.fixture
def make_courier():
    """Create a courier through the service, as every interface does."""

    def make(name: str = "Courier", transport_type: str = "scooter", status: str = Courier.Status.AVAILABLE) -> Courier:
        return courier_create(name=name, phone=f"+{next(_phones)}", transport_type=transport_type, status=status)

    return make


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI every test runs: a skipped test is a test that checks nothing, so it fails the run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("CI") and skipped and exitstatus == 0:
        reporter.write_line(f"CI: {len(skipped)} test(s) skipped; every test must run here", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A `postgres` test needs row locks and real concurrency: skipped, with the reason, on SQLite."""
    from django.conf import settings

    if (
        item.get_closest_marker("postgres")
        and settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql"
    ):
        pytest.skip(
            "needs PostgreSQL (row locks, a pool, real concurrency: SQLite serialises the transactions, so a race "
            "cannot fail there; CI runs these on PostgreSQL): set DATABASE_URL=postgres://..."
        )
