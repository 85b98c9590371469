"""One event of about 1 MB in a normal stream: dead-lettered as a record, and every consumer lives on."""

import json
from uuid import uuid4

import pytest
from confluent_kafka import Producer

from couriers.consumer.dead_letters import CONTENT, ORIGINAL_SIZE
from sandbox.simulator import Simulator
from sandbox.verify import verify
from tests.e2e.conftest import CONSISTENT, wait_until
from tests.e2e.test_resilience import make_fleet, settle
from tests.kafka_helpers import read_all, topic_size

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EVENT_BYTES = 1_010_000  # passes a broker at its default limit (about 1 MB plus overhead)


def oversized_event() -> bytes:
    head = json.dumps({"order_id": str(uuid4()), "status": "created", "padding": ""}).encode()
    return head[:-2] + b"x" * (EVENT_BYTES - len(head)) + head[-2:]


def test_an_event_too_large_for_the_dlq_is_dead_lettered_as_a_record(
    kafka_broker, pipeline_topic, consumers, consumer_env, make_courier
):
    make_fleet(make_courier, 8)
    # A DLQ whose broker takes less than the event: it cannot be dead-lettered whole.
    consumer_env["KAFKA_DLQ_MESSAGE_MAX_BYTES"] = "1000000"
    big = oversized_event()
    assert len(big) == EVENT_BYTES
    with Simulator(
        bootstrap=kafka_broker, topic=pipeline_topic, time_scale=0.01, seed=41, reads=CONSISTENT
    ) as simulator:
        consumer_env["ORDER_SERVICE_URL"] = simulator.url
        simulator.create_orders(40, over=3.0)
        group = [consumers.start("--idle-exit", "8") for _ in range(2)]
        wait_until(lambda: simulator.requests().total >= 10, 60, "work under way")
        producer = Producer({"bootstrap.servers": kafka_broker, "message.max.bytes": 2_000_000})
        producer.produce(pipeline_topic, big)
        assert producer.flush(10) == 0, "the test broker refused the event"
        settle(simulator, completed=3)
        for member in group:
            assert consumers.wait_exit(member) == 0, consumers.log(member)[-3000:]
        report = verify(simulator.truth())
    assert report.ok, (report.summary(), report.mismatches[:10], report.courier_problems)

    dlq = f"{pipeline_topic}.dlq"
    dead = read_all(kafka_broker, dlq, expected=topic_size(kafka_broker, dlq))
    records = [m for m in dead if dict(m.headers()).get(CONTENT) == b"record"]
    assert records, [dict(m.headers()) for m in dead]
    record = json.loads(records[0].value())
    assert record["size"] == EVENT_BYTES
    assert record["topic"] == pipeline_topic
    assert "over the limit" in record["reason"]
    assert big.startswith(record["first_bytes"].encode())
    assert dict(records[0].headers())[ORIGINAL_SIZE] == str(EVENT_BYTES).encode()
