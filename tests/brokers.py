"""The brokers Kafka tests run on: librdkafka's mock cluster everywhere, Apache Kafka where Java and Maven are.

A test module (or conftest) runs on both with `kafka, kafka_broker = ON_BOTH` (or on one, `on("real")`): the
fixtures `kafka` and `kafka_broker` are overridden there, and each of its tests runs once per broker. Both are
per test, so that each test gets a live broker: see `alive`.
"""

import warnings

import pytest

from sandbox.broker import EmbeddedBroker
from sandbox.kafka_server import INSTALL, KafkaServer
from tests.system_tools import requires

REAL_KAFKA = requires("java", "mvn", install=INSTALL)
BOTH = ["embedded", pytest.param("real", marks=REAL_KAFKA)]

Broker = EmbeddedBroker | KafkaServer


class BrokerRestarted(UserWarning):
    """The session's embedded broker had died: a new one took its place for the tests from then on."""


def alive(broker: Broker) -> Broker:
    """The session's broker; the embedded one started anew if its holder died, with a warning saying how it died.

    A dead holder otherwise fails every later test with "connection refused", far from what killed it.
    """
    if isinstance(broker, EmbeddedBroker) and (death := broker.restart_if_dead()):
        warnings.warn(BrokerRestarted(f"{death}\nstarted a new one at {broker.bootstrap_servers}"), stacklevel=2)
    return broker


def _either_broker(request: pytest.FixtureRequest) -> Broker:
    """The session's broker of the kind named by the fixture's parameter."""
    return alive(request.getfixturevalue(f"{request.param}_kafka"))


def _bootstrap_servers(kafka: Broker) -> str:
    # Overridden along with `kafka`: a fixture binds its dependencies where it is defined.
    return kafka.bootstrap_servers


def on(*kinds: str) -> tuple[object, object]:
    """The fixtures `kafka` and `kafka_broker` for the brokers of these kinds."""
    params = [param for param in BOTH if getattr(param, "values", (param,))[0] in kinds]
    return (
        pytest.fixture(_either_broker, params=params, name="kafka"),
        pytest.fixture(_bootstrap_servers, name="kafka_broker"),
    )


ON_BOTH = on("embedded", "real")
