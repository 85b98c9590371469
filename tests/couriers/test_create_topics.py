"""create_topics: the topics production needs, created once, reported after; a clear error without Kafka."""

from uuid import uuid4

import pytest
from django.core.management import CommandError, call_command

from sandbox.kafka_server import free_port
from tests.brokers import REAL_KAFKA


@pytest.fixture
def topics(settings, real_kafka) -> tuple[str, str, str]:
    settings.KAFKA_BOOTSTRAP_SERVERS = real_kafka.bootstrap_servers
    settings.KAFKA_TOPIC = f"orders.{uuid4().hex}"
    settings.KAFKA_DLQ_TOPIC = f"{settings.KAFKA_TOPIC}.dlq"
    settings.OUTBOX_TOPIC = f"{settings.KAFKA_TOPIC}.deliveries"
    return settings.KAFKA_TOPIC, settings.KAFKA_DLQ_TOPIC, settings.OUTBOX_TOPIC


@REAL_KAFKA
def test_the_topics_are_created_then_reported_as_existing(topics, capsys):
    call_command("create_topics", "--partitions", "3")
    first = capsys.readouterr().out
    call_command("create_topics", "--partitions", "3")
    second = capsys.readouterr().out

    assert first.splitlines() == [f"{name}: created (3 partitions, replication factor 1)" for name in topics]
    assert second.splitlines() == [f"{name}: exists (3 partitions, replication factor 1)" for name in topics]


@REAL_KAFKA
def test_a_different_partition_count_is_reported_and_left_alone(topics, capsys):
    call_command("create_topics", "--partitions", "2")
    capsys.readouterr()

    call_command("create_topics", "--partitions", "4")

    err = capsys.readouterr().err
    assert f"{topics[0]}: exists with 2 partitions, replication factor 1, not the 4 partitions" in err


def test_an_unreachable_broker_is_a_one_line_error(settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = f"127.0.0.1:{free_port()}"

    with pytest.raises(CommandError) as error:
        call_command("create_topics", "--timeout", "2")

    message = str(error.value)
    assert message.startswith(f"Kafka at {settings.KAFKA_BOOTSTRAP_SERVERS} did not answer")
    assert "KAFKA_BOOTSTRAP_SERVERS" in message
    assert "\n" not in message
