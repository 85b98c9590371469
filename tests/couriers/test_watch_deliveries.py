"""watch_deliveries on what it cannot read: a message that is no delivery event is skipped, a silent Kafka fails it."""

import json
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.db_outage import closed_port
from tests.deploy.conftest import base_env, manage
from tests.kafka_helpers import produce, read_all

EVENT = {
    "type": "assigned",
    "occurred_at": "2026-01-01T12:00:00Z",
    "order_id": "o1",
    "version": 1,
    "cause": "event",
    "delivery": {"courier": {"id": 7, "transport_type": "car"}},
}
UNREADABLE = [b"not json", b"\xff\xfe{", b'["a list"]', b'{"type": "assigned"}', b'{"delivery": 5, "type": "x"}']


def watch(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("watch_deliveries", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_message_that_is_no_delivery_event_is_skipped_naming_where_it_lies(kafka_broker, topic, settings):
    produce(kafka_broker, topic, [*UNREADABLE, EVENT])
    where = {message.value(): (message.partition(), message.offset()) for message in read_all(kafka_broker, topic, 6)}
    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_broker
    settings.OUTBOX_TOPIC = topic

    out, err = watch("--from-beginning", "--idle-exit", "5")

    partition, offset = where[json.dumps(EVENT).encode()]
    assert out.splitlines() == [
        f"2026-01-01T12:00:00Z  order o1  v1  assigned courier 7 (car)  [event]  p{partition}@{offset}",
        "assigned 1",
    ]
    skipped = re.findall(r"^skipped p(\d+)@(\d+): not a delivery event", err, re.MULTILINE)
    assert sorted((int(p), int(o)) for p, o in skipped) == sorted(where[value] for value in UNREADABLE)
    assert err.splitlines()[-1] == "5 message(s) skipped: not delivery events"


def test_an_unreachable_kafka_is_an_error_not_an_empty_count(settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = f"127.0.0.1:{closed_port()}"

    with pytest.raises(CommandError, match=r"Kafka at 127\.0\.0\.1:\d+ did not answer: .*KAFKA_BOOTSTRAP_SERVERS"):
        watch("--idle-exit", "1", "--kafka-timeout", "1")


def test_from_a_shell_an_unreachable_kafka_exits_non_zero(tmp_path):
    env = {
        **base_env(tmp_path),
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}",
    }

    result = manage("watch_deliveries", "--idle-exit", "1", "--kafka-timeout", "1", env=env)

    assert result.returncode == 1
    assert "no events" not in result.stdout
    assert "did not answer" in result.stderr


def test_a_topic_never_given_to_read_is_an_error(kafka_broker, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_broker
    settings.OUTBOX_TOPIC = "not a valid topic name!"

    with pytest.raises(CommandError, match="gave no partition of not a valid topic name! to read within 2 s"):
        watch("--idle-exit", "2")
