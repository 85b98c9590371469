"""replay_dlq puts dead letters back on the main topic, all of them or a chosen part."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from confluent_kafka import OFFSET_INVALID, Consumer, Producer, TopicPartition
from django.core.management import CommandError, call_command
from django.utils import timezone

from couriers.consumer.dead_letters import CONTENT, DEAD_LETTERED_AT, ORIGINAL_OFFSET, REASON
from couriers.consumer.replay import ReplayFilter, replay_dead_letters
from couriers.models import OrderFailure
from tests.brokers import ON_BOTH
from tests.db_outage import closed_port
from tests.deploy.conftest import REPO
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
    kafka.create_topics(topic)
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


def test_the_command_dry_run_publishes_nothing_and_commits_nothing(
    kafka_broker, dlq, topic, settings, capsys, monkeypatch
):
    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_broker
    settings.KAFKA_DLQ_TOPIC = dlq
    settings.KAFKA_TOPIC = topic
    replay_group = uuid4()
    monkeypatch.setattr("couriers.consumer.replay.uuid4", lambda: replay_group)

    call_command("replay_dlq", "--dry-run", "--reason", "not json")

    out = capsys.readouterr().out
    assert "would replay 1" in out
    assert "not JSON" in out
    # The broker's own record, not a read that may end too early: the main topic holds no message at all,
    # and the DLQ has no committed position for the replay's group (it never consumes the dead letters).
    assert set(end_offsets(kafka_broker, settings.KAFKA_TOPIC)) == {0}
    assert set(committed_offsets(kafka_broker, dlq, f"dlq-replay-{replay_group.hex}")) == {OFFSET_INVALID}


def end_offsets(bootstrap: str, topic: str) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{uuid4().hex}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in sorted(partitions)]
    finally:
        consumer.close()


def committed_offsets(bootstrap: str, topic: str, group: str) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        committed = consumer.committed([TopicPartition(topic, p) for p in sorted(partitions)], timeout=10)
        return [tp.offset for tp in committed]
    finally:
        consumer.close()


def test_the_replay_runs_during_a_database_outage_and_keeps_the_dlq(kafka_broker, dlq, topic):
    """replay_dlq needs Kafka only: with the database refusing connections it replays, and the DLQ stays whole."""
    target = topic
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "courier_project.test_settings",
        "DATABASE_URL": f"postgres://courier@127.0.0.1:{closed_port()}/courier",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_broker,
        "KAFKA_DLQ_TOPIC": dlq,
        "KAFKA_TOPIC": target,
    }

    result = subprocess.run(
        [sys.executable, "manage.py", "replay_dlq"], cwd=REPO, env=env, capture_output=True, text=True
    )

    assert result.returncode == 0, result.stderr
    assert "replayed 3" in result.stdout
    assert len(read_all(kafka_broker, target, expected=3)) == 3
    assert sum(end_offsets(kafka_broker, dlq)) == 3


def test_an_unreachable_broker_stops_the_replay_with_one_clear_message(settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = f"127.0.0.1:{closed_port()}"

    with pytest.raises(CommandError, match=r"^replay stopped: Kafka .*The DLQ is unchanged"):
        call_command("replay_dlq")


def test_a_record_of_a_message_too_large_is_not_replayed(kafka_broker, dlq, topic):
    producer = Producer({"bootstrap.servers": kafka_broker})
    producer.produce(
        dlq, value=b'{"topic": "orders", "size": 1010000}', headers=[(REASON, b"too big"), (CONTENT, b"record")]
    )
    assert producer.flush(10) == 0
    target = topic

    report = replay_dead_letters(
        config={"bootstrap.servers": kafka_broker}, dlq_topic=dlq, target_topic=target, only=ReplayFilter()
    )

    assert (report.read, report.replayed, report.records) == (4, 3, 1)
    assert b"1010000" not in b"".join(m.value() for m in read_all(kafka_broker, target, expected=3))


@pytest.mark.django_db
def test_the_command_gives_the_orders_it_replays_another_round(kafka_broker, dlq, topic, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS, settings.KAFKA_DLQ_TOPIC, settings.KAFKA_TOPIC = kafka_broker, dlq, topic
    for order_id in ("b", "c"):
        OrderFailure.objects.create(order_id=order_id, attempts=3, last_error="x", given_up_at=timezone.now())

    call_command("replay_dlq", "--reason", "rejected")

    assert list(OrderFailure.objects.values_list("order_id", flat=True)) == ["c"], "b replayed: no longer given up"
