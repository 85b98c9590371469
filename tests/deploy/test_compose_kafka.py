"""Compose's Kafka security on a real broker: the broker runs with the kafka service's own settings (SASL on every
listener, the StandardAuthorizer, admin the only super user) and kafka-init's ACLs, and each user may do what
docker-compose.yml says, nothing more."""

import shlex
import time
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from sandbox.kafka_server import KafkaServer
from tests import system_tools
from tests.brokers import REAL_KAFKA
from tests.deploy.test_compose import resolved

pytestmark = [REAL_KAFKA, system_tools.DOCKER_COMPOSE]

TOPIC, DLQ, GROUP = "order.status.changed", "order.status.changed.dlq", "service-courier"
OUTBOX = "courier.delivery.changed"
# Where the broker runs here rather than in a container: its addresses, its data, its node id.
LOCAL = {"listeners", "advertised.listeners", "listener.security.protocol.map", "controller.quorum.voters", "log.dirs"}


def broker_properties(environment: dict[str, str]) -> dict[str, str]:
    """KAFKA_FOO_BAR=value as the apache/kafka image turns it into foo.bar=value."""
    return {
        name.removeprefix("KAFKA_").lower().replace("_", "."): value
        for name, value in environment.items()
        if name.startswith("KAFKA_") and name != "KAFKA_HEAP_OPTS"  # the JVM's, not the broker's
    }


class ComposeKafka(KafkaServer):
    """The test broker with compose's security settings: its SASL_PLAINTEXT port is compose's CLIENT listener,
    its CONTROLLER takes SASL as compose's does; the PLAINTEXT port (anonymous: no ACL grants it anything) is
    only the start-up probe's."""

    def __init__(self, properties: dict[str, str]) -> None:
        super().__init__()
        self.compose_properties = properties

    def _server_properties(self) -> str:
        ports = self.ports
        own = {
            **{key: value for key, value in self.compose_properties.items() if key not in LOCAL},
            "node.id": "1",
            "listeners": f"PLAINTEXT://127.0.0.1:{ports['PLAINTEXT']},CONTROLLER://127.0.0.1:{ports['CONTROLLER']},"
            f"CLIENT://127.0.0.1:{ports['SASL_PLAINTEXT']}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{ports['PLAINTEXT']},"
            f"CLIENT://127.0.0.1:{ports['SASL_PLAINTEXT']}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT,CLIENT:SASL_PLAINTEXT",
            "controller.quorum.voters": f"1@127.0.0.1:{ports['CONTROLLER']}",
            "log.dirs": str(self._require_data() / "data"),
            "offsets.topic.num.partitions": "1",
        }
        return "".join(f"{key}={value}\n" for key, value in own.items())


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return resolved(tmp_path_factory.mktemp("compose"))


@pytest.fixture(scope="module")
def broker(compose: dict[str, Any]) -> Iterator[ComposeKafka]:
    kafka = ComposeKafka(broker_properties(compose["services"]["kafka"]["environment"]))
    with kafka:
        yield kafka


def credentials(compose: dict[str, Any], user: str) -> dict[str, str]:
    """SASL as each service of the compose file authenticates: the password its own environment holds."""
    services = compose["services"]
    password = {
        "admin": services["kafka-init"]["environment"]["BROKER_ADMIN_PASSWORD"],
        "courier": services["consumer"]["environment"]["KAFKA_SASL_PASSWORD"],
        "simulator": services["order-simulator"]["environment"]["SIMULATOR_KAFKA_PASSWORD"],
    }[user]
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": user,
        "sasl.password": password,
    }


def acl_bindings(script: str) -> list[AclBinding]:
    """kafka-init's `$$acl --allow-principal User:NAME --operation OP... --topic|--group NAME` lines."""
    names = {"$$TOPIC": TOPIC, "$$DLQ_TOPIC": DLQ, "$$OUTBOX_TOPIC": OUTBOX, "$$GROUP": GROUP}
    bindings = []
    for line in script.splitlines():
        if not line.strip().startswith("$$acl "):
            continue
        words = shlex.split(line.replace('"', ""))
        principal = words[words.index("--allow-principal") + 1]
        kind = "topic" if "--topic" in words else "group"
        resource = names[words[words.index(f"--{kind}") + 1]]
        for index, word in enumerate(words):
            if word == "--operation":
                bindings.append(
                    AclBinding(
                        ResourceType.TOPIC if kind == "topic" else ResourceType.GROUP,
                        resource,
                        ResourcePatternType.LITERAL,
                        principal,
                        "*",
                        AclOperation[words[index + 1].upper()],
                        AclPermissionType.ALLOW,
                    )
                )
    return bindings


@pytest.fixture(scope="module")
def initialised(broker: ComposeKafka, compose: dict[str, Any]) -> ComposeKafka:
    """What kafka-init does, as admin: the three topics and the ACLs its script grants."""
    admin = AdminClient({"bootstrap.servers": broker.sasl_bootstrap_servers, **credentials(compose, "admin")})
    for future in admin.create_topics([NewTopic(name, 1, 1) for name in (TOPIC, DLQ, OUTBOX)]).values():
        future.result(timeout=60)
    bindings = acl_bindings(compose["services"]["kafka-init"]["command"][0])
    assert len(bindings) == 9
    for future in admin.create_acls(bindings).values():
        future.result(timeout=60)
    _wait_for_acls(admin, len(bindings))
    return broker


def _wait_for_acls(admin: AdminClient, count: int) -> None:
    """The broker enforces ACLs once it has applied them from the metadata log, a moment after create_acls
    returned: until it lists them all, a first request may still be refused."""
    every = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY
    )
    deadline = time.monotonic() + 30
    while len(admin.describe_acls(every).result(timeout=30)) < count:
        assert time.monotonic() < deadline, "the broker never listed the ACLs kafka-init grants"
        time.sleep(0.2)


def produce(broker: ComposeKafka, compose: dict[str, Any], user: str, topic: str) -> str | None:
    """None when the message was stored; else the broker's error."""
    outcome: list[str | None] = []
    producer = Producer(
        {
            "bootstrap.servers": broker.sasl_bootstrap_servers,
            **credentials(compose, user),
            "message.timeout.ms": 15000,
        }
    )
    producer.produce(topic, b'{"order_id": "A-1", "status": "created"}', on_delivery=lambda e, m: outcome.append(e))
    producer.flush(30)
    (error,) = outcome
    return None if error is None else error.name()


def consume_one(broker: ComposeKafka, compose: dict[str, Any], user: str) -> str:
    consumer = Consumer(
        {
            "bootstrap.servers": broker.sasl_bootstrap_servers,
            **credentials(compose, user),
            "group.id": GROUP,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.subscribe([TOPIC])
        for _ in range(60):
            message = consumer.poll(1)
            if message is None:
                continue
            if message.error():
                return message.error().name()
            return "consumed"
        return "nothing"
    finally:
        consumer.close()


def test_the_simulator_writes_the_topic_and_the_consumer_reads_it(
    initialised: ComposeKafka, compose: dict[str, Any]
) -> None:
    assert produce(initialised, compose, "simulator", TOPIC) is None
    assert consume_one(initialised, compose, "courier") == "consumed"


def test_the_consumer_writes_the_dlq_and_its_delivery_events_and_nothing_else(
    initialised: ComposeKafka, compose: dict[str, Any]
) -> None:
    assert produce(initialised, compose, "courier", DLQ) is None
    assert produce(initialised, compose, "courier", OUTBOX) is None
    assert produce(initialised, compose, "courier", TOPIC) == "TOPIC_AUTHORIZATION_FAILED"
    assert produce(initialised, compose, "simulator", DLQ) == "TOPIC_AUTHORIZATION_FAILED"
    assert produce(initialised, compose, "simulator", OUTBOX) == "TOPIC_AUTHORIZATION_FAILED"


@pytest.mark.parametrize("user", ["courier", "simulator"])
def test_only_admin_creates_or_deletes_topics(initialised: ComposeKafka, compose: dict[str, Any], user: str) -> None:
    client = AdminClient({"bootstrap.servers": initialised.sasl_bootstrap_servers, **credentials(compose, user)})

    for request in (client.create_topics([NewTopic("poison", 1, 1)]), client.delete_topics([TOPIC])):
        (future,) = request.values()
        with pytest.raises(KafkaException, match=r"(?i)authoriz"):
            future.result(timeout=60)


def test_a_wrong_password_is_refused(initialised: ComposeKafka, compose: dict[str, Any]) -> None:
    errors: list[KafkaError] = []
    wrong = {**credentials(compose, "courier"), "sasl.password": "guess", "error_cb": errors.append}
    client = AdminClient({"bootstrap.servers": initialised.sasl_bootstrap_servers, **wrong})

    with pytest.raises(KafkaException):
        client.list_topics(timeout=10)
    for _ in range(30):  # the error reaches error_cb when the client is polled
        if any(error.code() == KafkaError._AUTHENTICATION for error in errors):
            break
        client.poll(0.5)

    assert any(error.code() == KafkaError._AUTHENTICATION for error in errors), errors
