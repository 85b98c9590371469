"""Poison orders: set aside and given up on their own, while hundreds of others flow through every partition.

Four orders service-order can never answer properly (two with garbage, two with a 500, for good), their
events on every partition, among 200 healthy ones, two consumers. No partition waits for them: each is
tried at most CONSUMER_MAX_ATTEMPTS times in all, its events end in the dead-letter topic, and the
consumers idle-exit 0 only once the group's lag is 0. The same with a consumer stopped mid-way (a
rebalance) and events nested thousands deep; and with an answer trickled a byte at a time, or a courier's
row locked by another session. Each over HTTP and over gRPC, where the simulator's poison orders fail as
gRPC can say it (sandbox.grpc_server).
"""

import json
import math
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime

import pytest
from confluent_kafka import Consumer, Producer
from django.db import connections, transaction

from couriers.consumer.dead_letters import ATTEMPTS, ORIGINAL_OFFSET, ORIGINAL_PARTITION, REASON
from couriers.consumer.parked import GIVEN_UP_BEFORE
from couriers.models import Courier, Delivery, OrderFailure
from couriers.phases import ENDS, phase_of
from sandbox.simulator import Simulator
from sandbox.verify import verify
from tests.e2e.conftest import CHAOS, CONSISTENT, point_at, wait_until
from tests.e2e.test_resilience import make_fleet, settle
from tests.kafka_helpers import committed_lag, read_all, topic_size

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MAX_ATTEMPTS = 3
RETRIES = 1  # the gateway's own retries of a 500 (ORDER_SERVICE_RETRIES in consumer_env); gRPC's UNKNOWN has none
NESTED = [
    b"[" * 2000 + b"]" * 2000,
    b'{"order_id": "a", "status": "created", "extra": ' + b'{"k":' * 2000 + b"1" + b"}" * 2001,
]


def origin(message) -> tuple[int, int]:
    headers = dict(message.headers())
    return int(headers[ORIGINAL_PARTITION]), int(headers[ORIGINAL_OFFSET])


def partitions(bootstrap: str, topic: str) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "metadata"})
    try:
        return sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
    finally:
        consumer.close()


def on_every_partition(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for partition in partitions(bootstrap, topic):
        for value in values:
            producer.produce(topic, value, partition=partition)
    assert producer.flush(10) == 0


def event(order_id: str, status: str) -> bytes:
    return json.dumps({"order_id": order_id, "status": status}).encode()


def decision_delays(logs: str, produced_at: dict[tuple[int, int], float], skip: set[str]) -> list[float]:
    """Seconds from each event's production to the decision logged for it (JSON logs)."""
    delays = []
    for line in logs.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # librdkafka's own lines
        if "event_statuses" in record and record["order_id"] not in skip:
            decided = datetime.fromisoformat(record["time"]).timestamp()
            delays += [decided - produced_at[(partition, offset)] for partition, offset in record["events"]]
    return delays


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(len(ordered) * 0.99) - 1)]


def events_of(messages: list, order_ids: set[str]) -> set[tuple[int, int]]:
    """Where the events of these orders are: (partition, offset)."""
    found = set()
    for message in messages:
        try:
            if json.loads(message.value())["order_id"] in order_ids:
                found.add((message.partition(), message.offset()))
        except (ValueError, KeyError, TypeError, RecursionError):
            continue  # malformed
    return found


def end_events(messages: list, order_ids: set[str]) -> dict[str, int]:
    """How many end events (completed, canceled, ...) each of these orders has in the stream."""
    ends = dict.fromkeys(order_ids, 0)
    for message in messages:
        try:
            data = json.loads(message.value())
            if data["order_id"] in ends and phase_of(data["status"]) in ENDS:
                ends[data["order_id"]] += 1
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            continue  # malformed
    return ends


def dead_letters(bootstrap: str, topic: str, given_up: set[str]) -> tuple[list, list, list]:
    """The topic's events, the DLQ's letters about these orders (each given up after exactly MAX_ATTEMPTS
    attempts), and its other letters."""
    events = read_all(bootstrap, topic, expected=topic_size(bootstrap, topic))
    dead = read_all(bootstrap, f"{topic}.dlq", expected=topic_size(bootstrap, f"{topic}.dlq"))
    about = [m for m in dead if dict(m.headers())[REASON].startswith((b"gave up", GIVEN_UP_BEFORE.encode()))]
    gave_up = [m for m in about if dict(m.headers())[REASON].startswith(b"gave up")]
    assert {json.loads(m.value())["order_id"] for m in about} == given_up
    assert {json.loads(m.value())["order_id"] for m in gave_up} == given_up
    assert {dict(m.headers())[ATTEMPTS] for m in gave_up} == {str(MAX_ATTEMPTS).encode()}
    return events, about, [m for m in dead if m not in about]


@pytest.mark.parametrize("trouble", ["none", "rebalance_and_nested_json"])
def test_poison_orders_are_set_aside_and_given_up_while_the_others_flow(
    kafka_broker, pipeline_topic, consumers, consumer_env, make_courier, transport, trouble, capsys
):
    make_fleet(make_courier, 30)
    # A long backoff: any partition held up by the poison would show in the delays.
    consumer_env.update(
        CONSUMER_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
        CONSUMER_BACKOFF_INITIAL="1",
        CONSUMER_BACKOFF_MAX="2",
        LOG_LEVEL="debug",
        LOG_FORMAT="json",
    )
    with Simulator(
        bootstrap=kafka_broker,
        topic=pipeline_topic,
        time_scale=0.01,
        chaos=CHAOS,
        seed=21,
        reads=CONSISTENT,
        grpc_port=0,
    ) as simulator:
        point_at(simulator, consumer_env, transport)
        ids = simulator.create_orders(200, over=4.0)
        poison = {"malformed": ids[:2], "error": ids[2:4]}
        for kind, order_ids in poison.items():
            for order_id in order_ids:
                simulator.poison(order_id, kind)
        poisoned = {*poison["malformed"], *poison["error"]}
        on_every_partition(kafka_broker, pipeline_topic, [event(order_id, "cooking") for order_id in poisoned])
        group = [consumers.start("--idle-exit", "8") for _ in range(2)]
        wait_until(lambda: Delivery.objects.count() >= 50, 90, "work under way")
        if trouble == "rebalance_and_nested_json":
            on_every_partition(kafka_broker, pipeline_topic, NESTED)
            group[0].send_signal(signal.SIGTERM)
            assert consumers.wait_exit(group[0], timeout=60) == 0, consumers.log(group[0])[-3000:]
        settle(simulator, completed=20)
        for member in group:
            assert consumers.wait_exit(member, timeout=240) == 0, consumers.log(member)[-3000:]
        lag = committed_lag(kafka_broker, pipeline_topic, consumer_env["KAFKA_GROUP_ID"])

        record = simulator.record()
        truth = {order_id: status for order_id, status in simulator.truth().items() if order_id not in poisoned}
        report = verify(truth, foreign_ids=record.unknown)
        asked = {order_id: simulator.asked(order_id) for order_id in poisoned}
    assert lag == 0, "an idle exit with events left"
    assert report.ok, (report.summary(), report.mismatches[:10], report.courier_problems)
    assert not Delivery.objects.filter(order_id__in=poisoned).exists()

    events, about_poison, other_letters = dead_letters(kafka_broker, pipeline_topic, poisoned)
    poison_events = events_of(events, poisoned)
    assert {origin(m) for m in about_poison} == poison_events, "every poison event dead-lettered"
    assert {p for p, _ in poison_events} == set(partitions(kafka_broker, pipeline_topic)), "on every partition"
    nested = len(NESTED) * len(partitions(kafka_broker, pipeline_topic)) if trouble != "none" else 0
    assert len({origin(m) for m in other_letters}) == record.malformed_total + nested, "nothing else dead-lettered"
    # Counted: exactly MAX_ATTEMPTS (the dead letters say so). Asked: one more at most per other consumer, whose
    # batch looked before the order was set aside and asked while it was given up (that answer is not used);
    # and once at most for each of its end events, read even when given up (they can only free a courier).
    calls = {order_id: MAX_ATTEMPTS + len(group) - 1 + ends for order_id, ends in end_events(events, poisoned).items()}
    assert all(asked[order_id] <= calls[order_id] for order_id in poison["malformed"]), (asked, calls)
    retries = RETRIES if transport == "http" else 0
    assert all(asked[order_id] <= calls[order_id] * (1 + retries) for order_id in poison["error"]), (asked, calls)
    assert not OrderFailure.objects.exclude(events=[]).exists(), "nothing left set aside"

    logs = "".join(consumers.log(member) for member in group)
    assert "service-order is down" not in logs, "a poison order taken for an outage"
    produced_at = {(m.partition(), m.offset()): m.timestamp()[1] / 1000 for m in events}
    delays = decision_delays(logs, produced_at, skip=poisoned)
    with capsys.disabled():
        print(f"\n[{trouble}, {transport}] healthy decisions: {len(delays)}, p99 {p99(delays):.2f}s after their events")
    assert "paused for" not in logs, "a partition waited for a poison order"


@contextmanager
def row_locked(courier_id: int) -> Iterator[None]:
    """Another session holds the courier's row lock (an idle transaction) until the block ends."""
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Courier.objects.select_for_update().get(pk=courier_id)
                holding.set()
                release.wait(300)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold, name="row-lock-holder")
    holder.start()
    assert holding.wait(10), "the lock was not taken"
    try:
        yield
    finally:
        release.set()
        holder.join(30)


@pytest.mark.parametrize("trouble", ["trickled_answer", pytest.param("row_lock", marks=pytest.mark.postgres)])
def test_a_call_or_lock_that_never_ends_is_an_attempt_then_a_dead_letter(
    kafka_broker, pipeline_topic, consumers, consumer_env, make_courier, transport, trouble
):
    """The trickled answer passes the per-read timeout over HTTP, and arrives whole past it over gRPC: only the
    gateway's deadline per call ends it."""
    make_fleet(make_courier, 30)
    consumer_env.update(
        CONSUMER_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
        CONSUMER_DB_LOCK_TIMEOUT="0.5",
        ORDER_SERVICE_READ_TIMEOUT="1",
        LOG_LEVEL="debug",
    )
    with Simulator(
        bootstrap=kafka_broker, topic=pipeline_topic, time_scale=0.02, seed=7, reads=CONSISTENT, grpc_port=0
    ) as simulator:
        point_at(simulator, consumer_env, transport)
        # Longer than an order's quietest stretch (delivering: 12 s at this time scale), when no event comes.
        group = [consumers.start("--idle-exit", "15") for _ in range(2)]
        consumers.wait_for_log(group[0], "assigned partitions")
        ids = simulator.create_orders(60, over=2.0)
        stuck, lock = ids[0], nullcontext()
        if trouble == "trickled_answer":
            simulator.poison(stuck, "trickle")
        else:
            assigned = Delivery.objects.filter(status=Delivery.Status.ASSIGNED)
            wait_until(assigned.exists, 60, "a courier assigned")
            stuck = assigned.first().order_id
            lock = row_locked(Delivery.objects.get(order_id=stuck).courier_id)
        with lock:
            if trouble == "row_lock":
                simulator.cancel(stuck)  # or it completes: releasing its courier needs the row either way
            settle(simulator, completed=10)
            for member in group:
                assert consumers.wait_exit(member, timeout=240) == 0, consumers.log(member)[-3000:]
        lag = committed_lag(kafka_broker, pipeline_topic, consumer_env["KAFKA_GROUP_ID"])
        final = simulator.truth()[stuck]
        truth = {order_id: status for order_id, status in simulator.truth().items() if order_id != stuck}
        report = verify(truth, foreign_ids=simulator.record().unknown)
    assert lag == 0
    assert report.ok, (report.summary(), report.mismatches[:10], report.courier_problems)
    events, about_stuck, _ = dead_letters(kafka_broker, pipeline_topic, {stuck})
    if trouble == "trickled_answer":
        assert {origin(m) for m in about_stuck} == events_of(events, {stuck}), "every event of it dead-lettered"
    else:
        assert final in {json.loads(m.value())["status"] for m in about_stuck}, "the event it failed on"
    logs = "".join(consumers.log(member) for member in group)
    assert "paused for" not in logs, "a partition waited for the stuck order"
    failures = [line for line in logs.splitlines() if f"order {stuck} failed (attempt" in line]
    assert failures, "its failures were attempts of the order"
    if trouble == "row_lock":
        assert all("lock timeout" in line for line in failures), failures
