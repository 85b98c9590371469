"""DeadLetters: whole when the DLQ takes it, a record of its origin when it cannot, never an exception."""

import json

from confluent_kafka import Producer, TopicPartition

from couriers.consumer.dead_letters import (
    CONTENT,
    ORIGINAL_OFFSET,
    ORIGINAL_SIZE,
    REASON,
    RECORD_FIRST_BYTES,
    DeadLetters,
    Letter,
)
from tests.fakes import FakeMessage, FakeProducer
from tests.kafka_helpers import read_all


def letter(value: bytes, offset: int = 7) -> Letter:
    return Letter(FakeMessage(value, topic="orders", partition=2, offset=offset), "event too large")


def test_a_message_that_fits_is_dead_lettered_whole_once():
    producer = FakeProducer()
    dead_letters = DeadLetters(producer, "dlq")

    assert dead_letters.send([letter(b"not json")]) == set()
    assert dead_letters.send([letter(b"not json")]) == set(), "after a rewind it comes again: sent once"

    assert len(producer.sent) == 1
    value, headers = producer.sent[0]
    assert value == b"not json"
    assert headers[REASON] == b"event too large"
    assert CONTENT not in headers


def test_a_message_too_large_for_the_producer_is_dead_lettered_as_a_record_of_its_origin():
    producer = FakeProducer(max_bytes=2000)
    big = b'{"order_id": "' + b"x" * 5000 + b'"}'

    assert DeadLetters(producer, "dlq").send([letter(big)]) == set()

    value, headers = producer.sent[0]
    record = json.loads(value)
    assert record == {
        "topic": "orders",
        "partition": 2,
        "offset": 7,
        "size": len(big),
        "reason": "event too large",
        "first_bytes": big[:RECORD_FIRST_BYTES].decode(),
    }
    assert headers[CONTENT] == b"record"
    assert headers[ORIGINAL_SIZE] == str(len(big)).encode()
    assert headers[ORIGINAL_OFFSET] == b"7"


def test_a_message_the_broker_refuses_as_too_large_is_dead_lettered_as_a_record():
    producer = FakeProducer(broker_max=1000)

    assert DeadLetters(producer, "dlq").send([letter(b"y" * 3000)]) == set()

    assert [headers[CONTENT] for _, headers in producer.sent] == [b"record"]


def test_a_full_queue_is_reported_back_not_raised():
    assert DeadLetters(FakeProducer(full=True), "dlq").send([letter(b"x")]) == {("orders", 2, 7)}


def test_letters_before_a_stored_offset_are_forgotten():
    dead_letters = DeadLetters(FakeProducer(), "dlq")
    dead_letters.send([letter(b"a", offset=3), letter(b"b", offset=9)])

    dead_letters.forget_before([TopicPartition("orders", 2, 5)])

    assert dead_letters.sent == {("orders", 2, 9)}


def test_the_dlq_holds_the_record_of_a_message_over_the_producers_limit(kafka_broker, topic):
    producer = Producer({"bootstrap.servers": kafka_broker, "message.max.bytes": 10_000})
    big = b"z" * 20_000

    failed = DeadLetters(producer, f"{topic}.dlq").send([letter(big)])

    assert failed == set()
    [dead] = read_all(kafka_broker, f"{topic}.dlq", expected=1)
    assert json.loads(dead.value())["size"] == 20_000
    assert dict(dead.headers())[CONTENT] == b"record"
