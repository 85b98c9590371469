"""replay_dlq puts dead letters back on the main topic, all of them or a chosen part."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from confluent_kafka import Producer
from django.core.management import call_command

from couriers.consumer.dead_letters import CONTENT, DEAD_LETTERED_AT, ORIGINAL_OFFSET, REASON
from couriers.consumer.replay import ReplayFilter, replay_dead_letters
from tests.kafka_helpers import read_all

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
def dlq(kafka_broker: str) -> str:
    topic = f"dlq.{uuid4().hex}"
    dead_letter(kafka_broker, topic, b'{"order_id": "a"}', "status is missing", NOW - timedelta(hours=2))
    dead_letter(kafka_broker, topic, b"garbage", "not JSON: Expecting value", NOW - timedelta(minutes=5))
    dead_letter(kafka_broker, topic, b'{"order_id": "b", "status": "x"}', "service-order rejected the order id", NOW)
    return topic


def test_everything_is_replayed_without_dlq_headers(kafka_broker, dlq):
    target = f"main.{uuid4().hex}"
    report = replay_dead_letters(bootstrap=kafka_broker, dlq_topic=dlq, target_topic=target, only=ReplayFilter())

    assert (report.read, report.replayed) == (3, 3)
    replayed = read_all(kafka_broker, target, expected=3)
    assert sorted(m.value() for m in replayed) == sorted(
        [b'{"order_id": "a"}', b"garbage", b'{"order_id": "b", "status": "x"}']
    )
    assert all(dict(m.headers()) == {"trace": b"t1"} for m in replayed)


def test_filter_by_reason_and_time(kafka_broker, dlq):
    target = f"main.{uuid4().hex}"
    by_reason = replay_dead_letters(
        bootstrap=kafka_broker, dlq_topic=dlq, target_topic=target, only=ReplayFilter(reason="REJECTED")
    )
    by_time = replay_dead_letters(
        bootstrap=kafka_broker,
        dlq_topic=dlq,
        target_topic=target,
        only=ReplayFilter(since=NOW - timedelta(hours=1), until=NOW - timedelta(minutes=1)),
    )

    assert (by_reason.replayed, by_time.replayed) == (1, 1)
    assert sorted(m.value() for m in read_all(kafka_broker, target, expected=2)) == [
        b"garbage",
        b'{"order_id": "b", "status": "x"}',
    ]


def test_the_command_dry_run_publishes_nothing(kafka_broker, dlq, settings, capsys):
    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_broker
    settings.KAFKA_DLQ_TOPIC = dlq
    settings.KAFKA_TOPIC = f"main.{uuid4().hex}"

    call_command("replay_dlq", "--dry-run", "--reason", "not json")

    out = capsys.readouterr().out
    assert "would replay 1" in out
    assert "not JSON" in out
    assert read_all(kafka_broker, settings.KAFKA_TOPIC, expected=0, timeout=3) == []


def test_a_record_of_a_message_too_large_is_not_replayed(kafka_broker, dlq):
    producer = Producer({"bootstrap.servers": kafka_broker})
    producer.produce(
        dlq, value=b'{"topic": "orders", "size": 1010000}', headers=[(REASON, b"too big"), (CONTENT, b"record")]
    )
    assert producer.flush(10) == 0
    target = f"main.{uuid4().hex}"

    report = replay_dead_letters(bootstrap=kafka_broker, dlq_topic=dlq, target_topic=target, only=ReplayFilter())

    assert (report.read, report.replayed, report.records) == (4, 3, 1)
    assert b"1010000" not in b"".join(m.value() for m in read_all(kafka_broker, target, expected=3))
