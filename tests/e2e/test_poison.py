"""Poison orders: one always answered with garbage, one never answered in time, hundreds of others flowing."""

import json
import re

import pytest

from couriers.consumer.dead_letters import ATTEMPTS, LAST_ERROR, ORIGINAL_OFFSET, ORIGINAL_PARTITION, REASON
from couriers.models import Delivery, OrderFailure
from sandbox.simulator import Simulator
from sandbox.verify import verify
from tests.e2e.conftest import CHAOS, CONSISTENT, wait_until
from tests.e2e.test_resilience import make_fleet, settle
from tests.kafka_helpers import committed_lag, read_all, topic_size

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MAX_ATTEMPTS = 3
BACKOFF_MAX = 1.0


def origin(message) -> tuple[bytes, bytes]:
    headers = dict(message.headers())
    return headers[ORIGINAL_PARTITION], headers[ORIGINAL_OFFSET]


def test_poison_orders_are_dead_lettered_after_their_attempts_while_the_others_flow(
    kafka_broker, pipeline_topic, consumers, consumer_env, make_courier
):
    make_fleet(make_courier, 30)
    consumer_env.update(
        CONSUMER_MAX_ATTEMPTS=str(MAX_ATTEMPTS), CONSUMER_BACKOFF_MAX=str(BACKOFF_MAX), LOG_LEVEL="debug"
    )
    with Simulator(
        bootstrap=kafka_broker, topic=pipeline_topic, time_scale=0.01, chaos=CHAOS, seed=21, reads=CONSISTENT
    ) as simulator:
        consumer_env["ORDER_SERVICE_URL"] = simulator.url
        ids = simulator.create_orders(200, over=4.0)
        garbage, hanging = ids[0], ids[1]
        simulator.poison(garbage, "malformed")
        simulator.poison(hanging, "hang")
        group = [consumers.start("--idle-exit", "8") for _ in range(2)]
        wait_until(lambda: Delivery.objects.count() >= 50, 90, "work under way")
        settle(simulator, completed=20)
        for member in group:
            assert consumers.wait_exit(member, timeout=240) == 0, consumers.log(member)[-3000:]

        record = simulator.record()
        truth = {
            order_id: status for order_id, status in simulator.truth().items() if order_id not in (garbage, hanging)
        }
        report = verify(truth, foreign_ids=record.unknown)
    assert report.ok, (report.summary(), report.mismatches[:10], report.courier_problems)
    assert not Delivery.objects.filter(order_id__in=[garbage, hanging]).exists()

    dead = read_all(kafka_broker, f"{pipeline_topic}.dlq", expected=topic_size(kafka_broker, f"{pipeline_topic}.dlq"))
    given_up = [m for m in dead if dict(m.headers())[REASON].startswith(b"gave up")]
    assert {json.loads(m.value())["order_id"] for m in given_up} == {garbage, hanging}
    # Two consumers may count the same order's last attempts at once: each gives up at the limit or just past it.
    assert {int(dict(m.headers())[ATTEMPTS]) for m in given_up} <= {MAX_ATTEMPTS, MAX_ATTEMPTS + 1}
    last_errors = {json.loads(m.value())["order_id"]: dict(m.headers())[LAST_ERROR].decode() for m in given_up}
    assert last_errors[garbage].startswith("BadOrderAnswer")
    assert "timeout" in last_errors[hanging]
    # At-least-once: a message dead-lettered just before a rebalance may be dead-lettered again by the next owner.
    malformed = {origin(m) for m in dead if m not in given_up}
    assert len(malformed) == record.malformed_total, "nothing else dead-lettered"
    assert not OrderFailure.objects.exists(), "every failing order was given up or succeeded"
    assert committed_lag(kafka_broker, pipeline_topic, consumer_env["KAFKA_GROUP_ID"]) == 0

    logs = "".join(consumers.log(member) for member in group)
    waits = [float(wait) for wait in re.findall(r"partition \d+ paused for ([\d.]+)s", logs)]
    assert waits, "no partition was ever paused: the poison never hit"
    assert max(waits) <= BACKOFF_MAX
    assert "service-order is down" not in logs, "a poison order taken for an outage"
