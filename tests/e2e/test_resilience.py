"""Crashes, scale, lost events and a vanished broker: the final state still matches service-order."""

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import datetime

import pytest
import requests

from couriers.models import Delivery
from sandbox.chaos import Chaos
from sandbox.http_server import ORDER_PREFIX
from sandbox.publisher import KafkaSink
from sandbox.simulator import Simulator
from sandbox.verify import courier_problems, verify
from tests.e2e.conftest import CHAOS, CONSISTENT, ROOT, point_at, wait_until
from tests.kafka_helpers import produce

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def make_fleet(make_courier, size: int) -> None:
    for i in range(size):
        make_courier(f"courier {i}", transport_type=("on_foot", "scooter", "car")[i % 3])


class FleetWatch:
    """Samples the fleet while the run goes on: no courier may ever hold two deliveries."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "FleetWatch":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        from django.db import connection

        try:
            while not self._stop.wait(0.2):
                self.problems += courier_problems()
                self.samples += 1
        finally:
            connection.close()


def settle(simulator: Simulator, completed: int) -> None:
    """Let orders live until some were delivered, then stop the clock so that the truth is final."""
    wait_until(lambda: Counter(simulator.truth().values())["completed"] >= completed, 90, "orders completed")
    simulator.freeze()
    simulator.wait_until_settled(timeout=30)


def test_a_consumer_killed_mid_stream_loses_nothing(
    kafka_broker, pipeline_topic, consumers, consumer_env, make_courier, transport
):
    make_fleet(make_courier, 8)
    with Simulator(
        bootstrap=kafka_broker,
        topic=pipeline_topic,
        time_scale=0.01,
        chaos=CHAOS,
        seed=11,
        reads=CONSISTENT,
        grpc_port=0,
    ) as simulator:
        point_at(simulator, consumer_env, transport)
        simulator.create_orders(40, over=3.0)
        first = consumers.start()
        wait_until(lambda: Delivery.objects.count() >= 10, 60, "work under way")
        first.send_signal(signal.SIGKILL)  # no goodbye: nothing committed after the last auto-commit
        first.wait(10)
        second = consumers.start("--idle-exit", "6")
        settle(simulator, completed=3)
        assert consumers.wait_exit(second) == 0

        report = verify(simulator.truth(), foreign_ids=simulator.record().unknown)
    assert report.ok, (report.summary(), report.mismatches[:10], report.courier_problems)


@pytest.mark.parametrize("group_protocol", ["classic", "consumer"])
def test_three_consumers_share_the_stream_through_rebalances(
    kafka_broker, pipeline_topic, consumers, consumer_env, make_courier, group_protocol
):
    make_fleet(make_courier, 10)
    consumer_env["KAFKA_GROUP_PROTOCOL"] = group_protocol
    if group_protocol == "consumer":
        del consumer_env["KAFKA_SESSION_TIMEOUT_MS"]  # the broker's to set under KIP-848
    with (
        Simulator(
            bootstrap=kafka_broker, topic=pipeline_topic, time_scale=0.01, chaos=CHAOS, seed=12, reads=CONSISTENT
        ) as simulator,
        FleetWatch() as watch,
    ):
        consumer_env["ORDER_SERVICE_URL"] = simulator.url
        group = [consumers.start("--idle-exit", "10") for _ in range(3)]
        for member in group:
            consumers.wait_for_log(member, "assigned partitions")
        # The stream starts once all three are in: joining a real broker's group takes seconds, and the first
        # member alone could otherwise finish the stream before the others join.
        simulator.create_orders(60, over=4.0)
        wait_until(lambda: Delivery.objects.count() >= 15, 60, "work under way")
        group[0].send_signal(signal.SIGTERM)  # one leaves mid-stream...
        assert consumers.wait_exit(group[0], timeout=60) == 0
        group.append(consumers.start("--idle-exit", "10"))  # ...and another joins
        consumers.wait_for_log(group[-1], "assigned partitions")
        # Events for the newcomer too: spread over time, as keyless events go to one partition per batch.
        simulator.create_orders(20, over=3.0)
        consumers.wait_for_log(group[-1], ", order is ")  # an order decided
        settle(simulator, completed=3)
        for member in group[1:]:
            assert consumers.wait_exit(member) == 0

        report = verify(simulator.truth(), foreign_ids=simulator.record().unknown)
    assert report.ok, (report.summary(), report.mismatches[:10], report.courier_problems)
    assert watch.samples > 0
    assert watch.problems == []
    logs = [consumers.log(member) for member in group]
    assert all(", order is " in log for log in logs[1:]), "every member took part"


class LosingSink(KafkaSink):
    """Loses every event that ends an order: what the reconcile sweep exists for."""

    def send(self, payload: bytes) -> None:
        try:
            status = json.loads(payload).get("status")
        except (ValueError, AttributeError):
            status = None
        if status not in ("completed", "canceled", "deleted"):
            super().send(payload)


def test_lost_events_are_repaired_by_one_sweep(
    kafka_broker, pipeline_topic, consumers, consumer_env, make_courier, transport
):
    make_fleet(make_courier, 6)
    chaos = Chaos(cancel_fraction=0.2, delete_fraction=0.2)
    sink = LosingSink(kafka_broker, pipeline_topic)
    with Simulator(sink=sink, time_scale=0.01, chaos=chaos, seed=13, reads=CONSISTENT, grpc_port=0) as simulator:
        point_at(simulator, consumer_env, transport)
        consumer = consumers.start("--idle-exit", "5")  # keeps up with the orders' lives as they happen
        consumers.wait_for_log(consumer, "assigned partitions")
        simulator.create_orders(30, over=2.0)
        settle(simulator, completed=5)
        assert consumers.wait_exit(consumer) == 0
        before = verify(simulator.truth())
        assert not before.ok, "nothing was lost: the test proves nothing"

        sweep = subprocess.run(
            [sys.executable, "manage.py", "reconcile_deliveries", "--older-than", "0"],
            cwd=ROOT,
            env=consumer_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert sweep.returncode == 0, sweep.stderr
        after = verify(simulator.truth())
    assert after.ok, (after.summary(), after.mismatches[:10])
    assert "reconciled:" in sweep.stdout


@pytest.mark.parametrize("gone", ["killed", "frozen"])
def test_shutdown_is_bounded_when_the_broker_is_gone(kafka, consumers, consumer_env, pipeline_topic, gone):
    broker = type(kafka)().start()  # one of this run's kind, of its own: it is killed, or frozen
    try:
        broker.create_topics(pipeline_topic, f"{pipeline_topic}.dlq")
        consumer_env["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap_servers
        consumer_env["ORDER_SERVICE_URL"] = "http://127.0.0.1:9"
        consumer = consumers.start(CONSUMER_CLOSE_TIMEOUT="1")
        consumers.wait_for_log(consumer, "assigned partitions")
        produce(broker.bootstrap_servers, pipeline_topic, [b"garbage"])  # an offset to commit at the end
        consumers.wait_for_log(consumer, "malformed event dead-lettered")
        if gone == "killed":
            broker.kill()  # the real process: a crash
        else:
            os.kill(broker.pid, signal.SIGSTOP)  # connections stay open, nothing answers
        consumer.send_signal(signal.SIGTERM)
        assert consumers.wait_exit(consumer, timeout=60) == 0
    finally:
        if gone == "frozen":
            os.kill(broker.pid, signal.SIGCONT)
        broker.stop()
    log = consumers.log(consumer)
    # The configured bound, on the process's own clock: from the signal to its last line, whether the close
    # gave up after its 1 s or got done within it: both happen.
    # Besides the 1 s given to Kafka: the poll in hand (1 s) and closing the workers' connections. Unbounded,
    # the close waits for a frozen broker for more than a minute. Its offsets need not be committed.
    assert logged_at(log, "consume_orders stopped") - logged_at(log, "SIGTERM received") <= 1.0 + 2.0


def test_json_logs_metrics_and_liveness(kafka_broker, pipeline_topic, consumers, consumer_env, make_courier, tmp_path):
    make_courier()
    liveness = tmp_path / "alive"
    port = free_port()
    with Simulator(bootstrap=kafka_broker, topic=pipeline_topic, time_scale=0.01, seed=14) as simulator:
        consumer_env["ORDER_SERVICE_URL"] = simulator.url
        simulator.create_orders(3)
        # Orders stay where they are: the busy courier must still be busy when the metrics are read.
        simulator.freeze()
        simulator.wait_until_settled()
        consumer = consumers.start("--metrics-port", str(port), LOG_FORMAT="json", CONSUMER_LIVENESS_FILE=str(liveness))
        wait_until(lambda: Delivery.objects.count() == 3, 60, "three deliveries")
        wait_until(liveness.exists, 30, "liveness file touched")
        touched = liveness.stat().st_mtime
        wait_until(lambda: liveness.stat().st_mtime > touched, 30, "liveness file touched again")
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        consumer.send_signal(signal.SIGTERM)
        assert consumers.wait_exit(consumer) == 0

    assert 'courier_events_total{outcome="assigned"}' in metrics
    assert "courier_gateway_calls_total" in metrics
    assert 'courier_couriers{status="busy"} 1.0' in metrics
    lines = [json.loads(line) for line in consumers.log(consumer).splitlines() if line.startswith("{")]
    assert lines, "no JSON log lines"
    events = [line for line in lines if "outcome" in line and "order_id" in line]
    assert events
    for line in events:
        assert {"order_id", "event_statuses", "events", "order_status", "outcome", "duration_ms"} <= set(line)
        assert len(line["events"]) == len(line["event_statuses"]) >= 1


def logged_at(log: str, text: str) -> float:
    """When the first line holding `text` was logged (the text format's timestamp), in seconds."""
    line = next(line for line in log.splitlines() if text in line)
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_moved_api_cancels_nothing_and_everything_catches_up_once_restored(
    kafka_broker, pipeline_topic, consumers, consumer_env, make_courier
):
    make_fleet(make_courier, 4)
    with Simulator(
        bootstrap=kafka_broker, topic=pipeline_topic, time_scale=0.01, seed=15, reads=CONSISTENT
    ) as simulator:
        consumer_env["ORDER_SERVICE_URL"] = simulator.url
        consumer = consumers.start("--idle-exit", "8")
        consumers.wait_for_log(consumer, "assigned partitions")
        simulator.create_orders(6)
        wait_until(lambda: Delivery.objects.count() == 6, 60, "every order has a delivery")
        # A deploy moves service-order's API: ORDER_SERVICE_PATH now meets the router's 404 under a running consumer.
        simulator.move_api("/v2/order/")
        simulator.create_orders(4)
        wait_until(lambda: simulator.requests().by_status.get(404, 0) >= 8, 60, "the consumer met the 404s")
        assert not Delivery.objects.filter(status=Delivery.Status.CANCELLED).exists()
        assert Delivery.objects.count() == 6

        simulator.move_api(ORDER_PREFIX)
        settle(simulator, completed=3)
        assert consumers.wait_exit(consumer) == 0
        report = verify(simulator.truth())
    assert report.ok, (report.summary(), report.mismatches[:10], report.courier_problems)
    assert report.checked == 10
    assert not Delivery.objects.filter(status=Delivery.Status.CANCELLED).exists()
    assert "ORDER_SERVICE_PATH" in consumers.log(consumer)
