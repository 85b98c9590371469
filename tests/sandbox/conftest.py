from collections.abc import Iterator
from uuid import uuid4

import pytest

from sandbox.broker import EmbeddedBroker, ensure_topics


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
