"""The outbox: every change of a delivery leaves its event, in its transaction, whatever the path."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from jsonschema import Draft202012Validator

from couriers.models import Delivery, OrderKnowledge, OutboxEvent
from couriers.services import (
    Reading,
    courier_make_available,
    deliveries_match_waiting,
    deliveries_reconcile,
    delivery_assign,
    delivery_cancel,
    delivery_dispute_settle,
    delivery_unassign,
    order_event_handle,
    order_readings_start,
)
from couriers.services.outbox import outbox_claim, outbox_mark_published, outbox_prune
from tests.couriers.factories import create_courier

pytestmark = pytest.mark.django_db


def events(order_id: str) -> list[tuple[int, str, str]]:
    """The order's events as (version, type, cause), in the order they were written."""
    return [(row.version, row.type, row.payload["cause"]) for row in OutboxEvent.objects.filter(order_id=order_id)]


def handle(orders, order_id: str, status: str) -> None:
    orders.set(order_id, status)
    order_event_handle(order_id=order_id, event_status=status, client=orders)


def assert_last_event_is_the_delivery(order_id: str) -> None:
    delivery = Delivery.objects.get(order_id=order_id)
    last = OutboxEvent.objects.filter(order_id=order_id).last().payload
    assert last["version"] == delivery.version
    assert last["delivery"]["status"] == delivery.status
    assert (last["delivery"]["courier"] or {}).get("id") == delivery.courier_id


class TestEventsOfEachPath:
    def test_an_order_assigned_then_completed(self, orders, make_courier):
        courier = make_courier()
        handle(orders, "o1", "created")
        handle(orders, "o1", "cooking")  # a duplicate changes nothing: no event
        handle(orders, "o1", "delivered")
        assert events("o1") == [(1, "assigned", "reading"), (2, "completed", "reading")]
        first = OutboxEvent.objects.filter(order_id="o1").first().payload
        assert first["delivery"]["courier"] == {"id": courier.pk, "transport_type": "scooter"}
        assert first["schema"] == "courier.delivery.changed/1"
        assert_last_event_is_the_delivery("o1")

    def test_queued_then_handed_the_courier_another_order_frees(self, orders, make_courier):
        make_courier()
        handle(orders, "o1", "created")
        handle(orders, "o2", "created")
        handle(orders, "o1", "canceled")
        assert events("o2") == [(1, "queued", "reading"), (2, "assigned", "reading")]
        assert events("o1") == [(1, "assigned", "reading"), (2, "cancelled", "reading")]
        assert_last_event_is_the_delivery("o2")

    def test_first_news_is_the_end_no_delivery_no_event(self, orders):
        # No courier was ever needed: the order is only known (OrderKnowledge), and nobody hears of it.
        handle(orders, "o1", "delivered")
        order_event_handle(order_id="o2", event_status="created", client=orders)  # service-order never had it
        assert not Delivery.objects.exists()
        assert not OutboxEvent.objects.exists()
        assert OrderKnowledge.objects.get(order_id="o2").read_status == OrderKnowledge.NOT_FOUND

    def test_a_dispatcher_takes_the_courier_off_and_cancels(self, orders, make_courier):
        make_courier()
        handle(orders, "o1", "created")
        delivery_unassign(order_id="o1")
        delivery_cancel(order_id="o1")
        assert events("o1") == [
            (1, "assigned", "reading"),
            (2, "unassigned", "dispatcher"),
            (3, "cancelled", "dispatcher"),
        ]
        assert_last_event_is_the_delivery("o1")

    def test_a_dispatcher_reopens_a_cancelled_order(self, orders, make_courier):
        handle(orders, "o1", "created")
        handle(orders, "o1", "canceled")
        orders.set("o1", "cooking")
        delivery_assign(order_id="o1", client=orders)
        assert events("o1") == [(1, "queued", "reading"), (2, "cancelled", "reading"), (3, "queued", "dispatcher")]
        paused = make_courier(status="paused")
        courier_make_available(courier_id=paused.pk)
        assert events("o1")[-1] == (4, "assigned", "dispatcher")
        assert_last_event_is_the_delivery("o1")

    def test_a_dispute_opened_then_rejected_by_a_dispatcher(self, orders, make_courier):
        make_courier()
        handle(orders, "o1", "created")
        order_event_handle(order_id="o1", event_status="delivered", client=orders)  # service-order reads created
        order_event_handle(order_id="o1", event_status="delivered", client=orders)  # the same news: no event
        delivery_dispute_settle(order_id="o1", accept=False)
        assert events("o1") == [(1, "assigned", "reading"), (2, "disputed", "reading"), (3, "settled", "dispatcher")]
        assert_last_event_is_the_delivery("o1")

    def test_a_dispute_accepted_by_a_dispatcher(self, orders, make_courier):
        make_courier()
        handle(orders, "o1", "created")
        order_event_handle(order_id="o1", event_status="canceled", client=orders)
        delivery_dispute_settle(order_id="o1", accept=True)
        assert events("o1") == [(1, "assigned", "reading"), (2, "disputed", "reading"), (3, "cancelled", "dispatcher")]
        assert_last_event_is_the_delivery("o1")

    def test_a_dispute_settled_by_the_rule_in_the_sweep(self, orders, settings):
        settings.DISPUTE_GRACE = 60
        orders.set("o1", "cooking")
        # First news of the order is its end, which service-order contradicts: a delivery created disputed.
        order_event_handle(order_id="o1", event_status="delivered", client=orders)
        OrderKnowledge.objects.filter(order_id="o1").update(end_announced_at=timezone.now() - timedelta(minutes=2))
        deliveries_reconcile(older_than=timedelta(0), client=orders)
        assert events("o1") == [(1, "disputed", "reading"), (2, "completed", "rule")]
        assert_last_event_is_the_delivery("o1")

    def test_the_matching_step(self, orders):
        handle(orders, "o1", "created")
        create_courier()
        # A courier that came without taking the queue (as a concurrent commit leaves one): the step pairs them.
        assert deliveries_match_waiting() == 1
        assert events("o1") == [(1, "queued", "reading"), (2, "assigned", "matching")]

    def test_the_sweep(self, orders, make_courier):
        make_courier()
        handle(orders, "o1", "created")
        orders.set("o1", "delivered")
        deliveries_reconcile(older_than=timedelta(0), client=orders)
        assert events("o1")[-1] == (2, "completed", "sweep")

    def test_a_batchs_new_orders_together(self, make_courier):
        make_courier()
        now = datetime.now(UTC)
        readings = [Reading(order_id, ("created",), "cooking", now) for order_id in ("o1", "o2")]
        order_readings_start(readings=readings)
        assert events("o1") == [(1, "assigned", "reading")]
        assert events("o2") == [(1, "queued", "reading")]
        assert_last_event_is_the_delivery("o1")
        assert_last_event_is_the_delivery("o2")


class TestTheTransaction:
    def test_a_rolled_back_decision_leaves_no_event(self, orders, make_courier):
        make_courier()
        orders.set("o1", "created")
        written = []

        def decide_then_fail() -> None:
            with transaction.atomic():
                order_event_handle(order_id="o1", event_status="created", client=orders)
                written.extend(events("o1"))
                raise RuntimeError("the decision fails after its event was written")

        with pytest.raises(RuntimeError):
            decide_then_fail()
        assert written == [(1, "assigned", "reading")]
        assert not Delivery.objects.filter(order_id="o1").exists()
        assert not OutboxEvent.objects.exists()


class TestClaim:
    def test_orders_claimed_whole_in_order(self, orders, make_courier):
        make_courier()
        for order_id in ("o1", "o2", "o3"):
            handle(orders, order_id, "created")
        handle(orders, "o1", "delivered")  # o1's second event comes after o2's and o3's first
        claimed = outbox_claim(limit=1)
        assert [(row.order_id, row.version) for row in claimed] == [("o1", 1), ("o1", 2)]

    def test_published_rows_are_not_claimed_again_and_are_pruned(self, orders, make_courier):
        make_courier()
        handle(orders, "o1", "created")
        handle(orders, "o2", "created")
        outbox_mark_published(ids=[row.pk for row in outbox_claim(limit=1)])
        assert [row.order_id for row in outbox_claim(limit=10)] == ["o2"]
        assert outbox_prune(published_before=timezone.now() - timedelta(hours=1)) == 0
        assert outbox_prune(published_before=timezone.now() + timedelta(seconds=1)) == 1
        assert list(OutboxEvent.objects.values_list("order_id", flat=True)) == ["o2"]


class TestSchema:
    SCHEMA = json.loads((settings.BASE_DIR / "docs" / "events.schema.json").read_text())

    def validator(self) -> Draft202012Validator:
        return Draft202012Validator(self.SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)

    def test_the_schema_and_its_examples_are_valid(self):
        Draft202012Validator.check_schema(self.SCHEMA)
        for example in self.SCHEMA["examples"]:
            self.validator().validate(example)

    def test_every_event_of_every_path_follows_the_schema(self, orders, make_courier, settings):
        settings.DISPUTE_GRACE = 60
        make_courier()
        handle(orders, "o1", "created")
        handle(orders, "o2", "created")
        delivery_unassign(order_id="o1")
        handle(orders, "o3", "created")
        handle(orders, "o3", "delivered")
        delivery_cancel(order_id="o2")
        handle(orders, "o4", "created")
        order_event_handle(order_id="o4", event_status="delivered", client=orders)  # disputed
        delivery_dispute_settle(order_id="o4", accept=False)  # settled
        orders.set("o5", "cooking")
        order_event_handle(order_id="o5", event_status="delivered", client=orders)  # created disputed
        OrderKnowledge.objects.filter(order_id="o5").update(end_announced_at=timezone.now() - timedelta(minutes=2))
        deliveries_reconcile(older_than=timedelta(0), client=orders)  # the rule ends it
        payloads = list(OutboxEvent.objects.values_list("payload", flat=True))
        assert {p["type"] for p in payloads} == {
            "assigned",
            "queued",
            "unassigned",
            "completed",
            "cancelled",
            "disputed",
            "settled",
        }
        assert {p["cause"] for p in payloads} == {"reading", "dispatcher", "rule"}
        for payload in payloads:
            self.validator().validate(payload)

    def test_the_schema_refuses_what_it_does_not_describe(self):
        event = json.loads(json.dumps(self.SCHEMA["examples"][0]))
        event["version"] = 0
        assert not self.validator().is_valid(event)
