"""The brokers Kafka tests run on: librdkafka's mock cluster everywhere, Apache Kafka where Java and Maven are.

A test module (or conftest) runs on both with `kafka, kafka_broker = ON_BOTH` (or on one, `on("real")`): the
fixtures `kafka` and `kafka_broker` are overridden there, and each of its tests runs once per broker.
"""

import pytest

from sandbox.broker import EmbeddedBroker
from sandbox.kafka_server import INSTALL, KafkaServer
from tests.system_tools import requires

REAL_KAFKA = requires("java", "mvn", install=INSTALL)
BOTH = ["embedded", pytest.param("real", marks=REAL_KAFKA)]

Broker = EmbeddedBroker | KafkaServer


def _either_broker(request: pytest.FixtureRequest) -> Broker:
    """The session's broker of the kind named by the fixture's parameter."""
    return request.getfixturevalue(f"{request.param}_kafka")


def _bootstrap_servers(kafka: Broker) -> str:
    # Overridden along with `kafka`: a session fixture binds its dependencies where it is defined.
    return kafka.bootstrap_servers


def on(*kinds: str) -> tuple[object, object]:
    """The fixtures `kafka` and `kafka_broker` for the brokers of these kinds."""
    params = [param for param in BOTH if getattr(param, "values", (param,))[0] in kinds]
    return (
        pytest.fixture(_either_broker, scope="session", params=params, name="kafka"),
        pytest.fixture(_bootstrap_servers, scope="session", name="kafka_broker"),
    )


ON_BOTH = on("embedded", "real")
