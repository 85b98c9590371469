"""The simulator's events on a real (mock) Kafka broker, read back with a consumer."""

import json
import re
from collections import Counter
from datetime import datetime

from sandbox.chaos import HUGE_PAYLOAD_BYTES, MALFORMED_KINDS, Chaos
from sandbox.simulator import Simulator
from tests.sandbox.kafka import consume

LIFE = ["created", "pending", "confirmed", "cooking", "delivering", "completed"]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def run(bootstrap: str, topic: str, count: int, chaos: Chaos | None = None) -> Simulator:
    with Simulator(bootstrap=bootstrap, topic=topic, time_scale=0.0002, chaos=chaos, seed=11) as simulator:
        simulator.create_orders(count)
        simulator.wait_until_settled(timeout=20)
    return simulator


def sort_out(messages, truth: dict[str, str]) -> tuple[dict[str, list[str]], list[str], list[bytes]]:
    """Valid events by order, the ids of unknown orders, and everything else."""
    valid: dict[str, list[str]] = {}
    unknown, malformed = [], []
    for message in messages:
        try:
            body = json.loads(message.value())
        except ValueError:
            body = None
        well_formed = (
            isinstance(body, dict)
            and set(body) == {"order_id", "status", "created_at"}
            and body["status"]
            and UUID.fullmatch(body["order_id"])
        )
        if not well_formed:
            malformed.append(message.value())
        elif body["order_id"] in truth:
            valid.setdefault(body["order_id"], []).append(body["status"])
        else:
            unknown.append(body["order_id"])
    return valid, unknown, malformed


def test_one_event_per_change_without_key_over_several_partitions(kafka_broker, topic):
    simulator = run(kafka_broker, topic, 20)

    messages, total = consume(kafka_broker, topic, 120)

    assert total == len(messages) == 120
    assert all(message.key() is None for message in messages)
    assert len({message.partition() for message in messages}) > 1
    bodies = [json.loads(message.value()) for message in messages]
    assert all(datetime.fromisoformat(body["created_at"]).tzinfo is not None for body in bodies)
    truth = simulator.truth()
    for order_id in truth:
        statuses = [body["status"] for body in bodies if body["order_id"] == order_id]
        assert sorted(statuses, key=LIFE.index) == LIFE
    assert simulator.record().failed == 0


def test_chaos_reaches_the_topic_exactly_as_recorded(kafka_broker, topic):
    chaos = Chaos(
        duplicate_probability=0.3,
        reorder_window=0.02,
        max_delay=0.02,
        cancel_fraction=0.2,
        delete_fraction=0.2,
        unknown_probability=0.1,
        malformed_probability=0.2,
    )
    simulator = run(kafka_broker, topic, 30, chaos)
    record = simulator.record()
    expected = record.valid_total + len(record.unknown) + record.malformed_total

    messages, total = consume(kafka_broker, topic, expected)
    valid, unknown, malformed = sort_out(messages, simulator.truth())

    assert total == len(messages) == expected
    assert {order_id: Counter(statuses) for order_id, statuses in valid.items()} == {
        order_id: Counter(statuses) for order_id, statuses in record.sent.items()
    }
    assert Counter(unknown) == Counter(record.unknown)
    assert len(malformed) == record.malformed_total
    assert set(record.malformed) == set(MALFORMED_KINDS)
    assert max(len(payload) for payload in malformed) > HUGE_PAYLOAD_BYTES
    truth = simulator.truth()
    assert {"canceled", "deleted", "completed"} <= set(truth.values())
    for order_id, statuses in valid.items():
        # Whatever the disorder, an order's last change is in its events.
        assert truth[order_id] in statuses
    assert any(len(statuses) > len(set(statuses)) for statuses in valid.values())
