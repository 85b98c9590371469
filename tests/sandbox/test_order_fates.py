"""The demo report's per-order table: each order counted once, a courier from the queue counted as one."""

import json
from pathlib import Path

import pytest

from sandbox.demo.order_fates import OrderFates, order_fates, queued_orders
from tests.couriers.factories import create_courier, create_delivery


def log_lines(*records: dict) -> str:
    return "\n".join(json.dumps(record) for record in records)


def test_queued_orders_are_read_from_the_consumers_json_log(tmp_path: Path) -> None:
    log = tmp_path / "consumer.log"
    log.write_text(
        "a plain line of librdkafka\n"
        + log_lines(
            {"order_id": "a", "outcome": "assigned"},
            {"order_id": "b", "outcome": "queued"},
            {"order_id": "b", "outcome": "queued"},  # a duplicate event of the same order
            {"order_id": "c", "outcome": "queued"},
            {"message": "consumer started"},
        )
    )

    assert queued_orders(log) == {"b", "c"}


@pytest.mark.django_db
def test_every_order_counts_once_and_a_courier_from_the_queue_counts_as_got_a_courier() -> None:
    truth = {
        "direct": "delivering",
        "handed-over": "delivering",
        "delivered-after-waiting": "completed",
        "cancelled-while-waiting": "canceled",
        "waiting": "cooking",
        "ended-before-we-asked": "completed",
    }
    create_delivery(order_id="direct", courier=create_courier())
    create_delivery(order_id="handed-over", courier=create_courier())
    create_delivery(order_id="delivered-after-waiting", courier=create_courier(), status="completed")
    create_delivery(order_id="cancelled-while-waiting", status="cancelled")
    create_delivery(order_id="waiting")
    create_delivery(order_id="an-earlier-run")  # not an order of this run
    queued = {"handed-over", "delivered-after-waiting", "cancelled-while-waiting", "waiting", "a-foreign-id"}

    fates = order_fates(truth, foreign_ids=["a-foreign-id", "another-foreign-id"], queued=queued)

    assert fates == OrderFates(
        orders=6,
        directly=1,
        from_queue=2,
        waited=4,
        still_waiting=1,
        ended_waiting=1,
        on_the_way=2,
        completed=1,
        cancelled=1,
        no_delivery=1,
        never_existed=2,
    )
    assert fates.got_courier == 3
