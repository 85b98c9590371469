import itertools
import os
from collections.abc import Iterator
from uuid import uuid4

import pytest
from django.core.cache import cache

from couriers.models import Courier
from couriers.services import courier_create
from sandbox.broker import EmbeddedBroker, ensure_topics
from tests.fakes import FakeOrderClient

_phones = itertools.count(10_000_000_000)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Throttle counters start at zero in every test."""
    cache.clear()


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[str]:
    """Bootstrap servers of a mock Kafka cluster in a process of its own, for the whole session."""
    with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers


@pytest.fixture
def topic(kafka_broker: str) -> str:
    """A fresh topic per test, so that no test reads another's events."""
    name = f"test.{uuid4().hex}"
    ensure_topics(kafka_broker, name)
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
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://...")
