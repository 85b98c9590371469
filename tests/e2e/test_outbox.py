"""The delivery events stream after a chaotic run whose relay and consumer were SIGKILLed mid-stream."""

import signal
import subprocess
import sys

import pytest
from django.db.models import Sum

from couriers.models import Delivery, OutboxEvent
from sandbox.simulator import Simulator
from sandbox.stream import check_stream, read_topic
from sandbox.verify import verify
from tests.e2e.conftest import CHAOS, CONSISTENT, ROOT, wait_until
from tests.e2e.test_resilience import make_fleet, settle

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_stream_tells_every_decision_in_order_through_kills(
    kafka, kafka_broker, pipeline_topic, consumers, consumer_env, make_courier, tmp_path
):
    outbox_topic = f"{pipeline_topic}.deliveries"
    kafka.create_topics(outbox_topic)
    consumer_env.update(OUTBOX_TOPIC=outbox_topic, OUTBOX_BATCH_SIZE="5")
    make_fleet(make_courier, 8)

    def relay(*args: str) -> subprocess.Popen:
        log = (tmp_path / f"relay-{len(list(tmp_path.glob('relay-*')))}.log").open("wb")
        command = [sys.executable, "manage.py", "relay_outbox", *args]
        return subprocess.Popen(command, cwd=ROOT, env=consumer_env, stdout=log, stderr=subprocess.STDOUT)

    # Consistent reads: the stream is the subject here (disputes have tests of their own).
    with Simulator(
        bootstrap=kafka_broker, topic=pipeline_topic, time_scale=0.01, chaos=CHAOS, seed=26, reads=CONSISTENT
    ) as simulator:
        consumer_env["ORDER_SERVICE_URL"] = simulator.url
        simulator.create_orders(40, over=3.0)
        first_consumer, first_relay = consumers.start(), relay()
        wait_until(lambda: OutboxEvent.objects.filter(published_at__isnull=False).count() >= 10, 60, "events out")
        first_relay.send_signal(signal.SIGKILL)  # mid-round, perhaps: its claimed rows are published again
        first_consumer.send_signal(signal.SIGKILL)
        first_relay.wait(10)
        first_consumer.wait(10)
        # Two relays from now on: one on the consumer's thread, one on its own (rows claimed with SKIP LOCKED).
        second_consumer, second_relay = consumers.start("--idle-exit", "6", "--relay"), relay()
        settle(simulator, completed=3)
        assert consumers.wait_exit(second_consumer) == 0
        report = verify(simulator.truth(), foreign_ids=simulator.record().unknown)
    wait_until(lambda: not OutboxEvent.objects.filter(published_at__isnull=True).exists(), 60, "outbox drained")
    second_relay.send_signal(signal.SIGTERM)
    assert second_relay.wait(30) == 0
    assert report.ok, (report.summary(), report.mismatches[:10], report.courier_problems)

    # Only a delivery with a version was ever told: one for an id service-order never had stays at version 0.
    told = Delivery.objects.filter(version__gt=0)
    assert told.count() > 10
    written = OutboxEvent.objects.count()
    assert written == told.aggregate(versions=Sum("version"))["versions"]
    # Read until the topic is quiet: duplicates make it longer than the outbox, by how many is not known.
    stream = check_stream(read_topic(kafka_broker, outbox_topic, idle=5.0))
    assert stream.ok, stream.problems[:10]
    assert stream.events - stream.duplicates == written
    assert {"assigned", "queued", "completed", "cancelled"} <= set(stream.by_type)
