"""replay_dlq puts dead letters back on the main topic, all of them or a chosen part."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from confluent_kafka import Producer
from django.core.management import call_command

from couriers.consumer.dead_letters import DEAD_LETTERED_AT, ORIGINAL_OFFSET, REASON
from couriers.consumer.replay import ReplayFilter, replay_dead_letters
from tests.brokers import ON_BOTH, create_topics
from tests.kafka_helpers import read_all

kafka, kafka_broker = ON_BOTH

NOW = datetime.now(UTC)


def dead_letter(bootstrap: str, topic: str, value: bytes, reason: str, at: datetime) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    headers = [
        ("trace", b"t1"),
        (REASON, reason.encode()),
        (ORIGINAL_OFFSET, b"7"),
        (DEAD_LETTERED_AT, at.isoformat().encode()),
    ]
    producer.produce(topic, value=value, headers=headers)
    assert producer.flush(10) == 0


@pytest.fixture
def dlq(kafka, kafka_broker: str) -> str:
    topic = f"dlq.{uuid4().hex}"
    create_topics(kafka, topic)
    dead_letter(kafka_broker, topic, b'{"order_id": "a"}', "status is missing", NOW - timedelta(hours=2))
    dead_letter(kafka_broker, topic, b"garbage", "not JSON: Expecting value", NOW - timedelta(minutes=5))
    dead_letter(kafka_broker, topic, b'{"order_id": "b", "status": "x"}', "service-order rejected the order id", NOW)
    return topic


def test_everything_is_replayed_without_dlq_headers(kafka_broker, dlq, topic):
    target = topic
    report = replay_dead_letters(
        config={"bootstrap.servers": kafka_broker}, dlq_topic=dlq, target_topic=target, only=ReplayFilter()
    )

    assert (report.read, report.replayed) == (3, 3)
    replayed = read_all(kafka_broker, target, expected=3)
    assert sorted(m.value() for m in replayed) == sorted(
        [b'{"order_id": "a"}', b"garbage", b'{"order_id": "b", "status": "x"}']
    )
    assert all(dict(m.headers()) == {"trace": b"t1"} for m in replayed)


def test_filter_by_reason_and_time(kafka_broker, dlq, topic):
    target = topic
    by_reason = replay_dead_letters(
        config={"bootstrap.servers": kafka_broker},
        dlq_topic=dlq,
        target_topic=target,
        only=ReplayFilter(reason="REJECTED"),
    )
    by_time = replay_dead_letters(
        config={"bootstrap.servers": kafka_broker},
        dlq_topic=dlq,
        target_topic=target,
        only=ReplayFilter(since=NOW - timedelta(hours=1), until=NOW - timedelta(minutes=1)),
    )

    assert (by_reason.replayed, by_time.replayed) == (1, 1)
    assert sorted(m.value() for m in read_all(kafka_broker, target, expected=2)) == [
        b"garbage",
        b'{"order_id": "b", "status": "x"}',
    ]


def test_the_command_dry_run_publishes_nothing(kafka_broker, dlq, topic, settings, capsys):
    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_broker
    settings.KAFKA_DLQ_TOPIC = dlq
    settings.KAFKA_TOPIC = topic

    call_command("replay_dlq", "--dry-run", "--reason", "not json")

    out = capsys.readouterr().out
    assert "would replay 1" in out
    assert "not JSON" in out
    assert read_all(kafka_broker, settings.KAFKA_TOPIC, expected=0, timeout=3) == []
