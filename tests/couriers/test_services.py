"""The dispatch rules, row by row, on the real database with a fake service-order."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from couriers.errors import Conflict, NotFound
from couriers.models import Courier, Delivery, OrderKnowledge, OutboxEvent
from couriers.services import (
    Outcome,
    Reading,
    courier_delete,
    courier_make_available,
    courier_pause,
    courier_update,
    deliveries_match_waiting,
    delivery_assign,
    delivery_cancel,
    delivery_unassign,
    order_event_handle,
    order_events_handle,
    order_read,
    order_reading_apply,
    order_readings_record_settled,
    order_readings_start,
)
from gateway.orders import OrderServiceUnavailable
from tests.couriers.factories import create_courier, create_delivery

pytestmark = pytest.mark.django_db


def handle(orders, order_id: str, event_status: str):
    return order_event_handle(order_id=order_id, event_status=event_status, client=orders)


def delivery(order_id: str) -> Delivery:
    return Delivery.objects.select_related("courier", "order").get(order_id=order_id)


def knowledge(order_id: str) -> OrderKnowledge:
    return OrderKnowledge.objects.get(order_id=order_id)


class TestActiveOrders:
    def test_an_active_order_gets_a_free_courier(self, orders, make_courier):
        courier = make_courier(transport_type="car")
        orders.set("o1", "pending")

        result = handle(orders, "o1", "created")

        assert result.outcome == Outcome.ASSIGNED
        assert result.order_status == "pending"
        d = delivery("o1")
        assert (d.status, d.courier, d.order_status) == (Delivery.Status.ASSIGNED, courier, "pending")
        assert d.deadline == d.assigned_at + timedelta(minutes=5)
        courier.refresh_from_db()
        assert courier.status == Courier.Status.BUSY

    @pytest.mark.parametrize("status", ["created", "pending", "confirmed", "cooking", "delivering", "updated"])
    def test_every_active_status_assigns(self, orders, make_courier, status):
        make_courier()
        orders.set("o1", status)
        assert handle(orders, "o1", status).outcome == Outcome.ASSIGNED

    def test_created_consumed_after_the_order_moved_on_still_assigns(self, orders, make_courier):
        make_courier()
        orders.set("o1", "cooking")
        assert handle(orders, "o1", "created").outcome == Outcome.ASSIGNED

    def test_an_order_with_a_courier_is_unchanged(self, orders, make_courier):
        make_courier()
        make_courier()
        orders.set("o1", "pending")
        handle(orders, "o1", "created")
        orders.set("o1", "cooking")

        assert handle(orders, "o1", "cooking").outcome == Outcome.UNCHANGED
        assert handle(orders, "o1", "created").outcome == Outcome.UNCHANGED
        assert Delivery.objects.filter(status=Delivery.Status.ASSIGNED).count() == 1
        assert delivery("o1").order_status == "cooking"

    def test_no_free_courier_queues_the_order_never_drops_it(self, orders, make_courier):
        make_courier()
        orders.set("o1", "pending")
        orders.set("o2", "pending")
        handle(orders, "o1", "created")

        assert handle(orders, "o2", "created").outcome == Outcome.QUEUED
        assert delivery("o2").status == Delivery.Status.AWAITING_COURIER
        assert delivery("o2").courier is None
        assert handle(orders, "o2", "pending").outcome == Outcome.UNCHANGED

    def test_paused_couriers_get_nothing(self, orders, make_courier):
        make_courier(status=Courier.Status.PAUSED)
        orders.set("o1", "pending")
        assert handle(orders, "o1", "created").outcome == Outcome.QUEUED

    def test_the_least_loaded_courier_of_the_day_is_chosen(self, orders, make_courier):
        worked = make_courier("worked")
        fresh = make_courier("fresh")
        orders.set("o1", "cooking")
        handle(orders, "o1", "created")  # goes to `worked`: idle longest
        orders.set("o1", "completed")
        handle(orders, "o1", "completed")
        # `worked` idles longest again: only its load of the day can make the choice `fresh`.
        Courier.objects.filter(pk=worked.pk).update(idle_since=timezone.now() - timedelta(hours=1))
        orders.set("o2", "cooking")
        handle(orders, "o2", "created")
        assert delivery("o1").courier == worked
        assert delivery("o2").courier == fresh

    def test_yesterdays_load_does_not_count(self, orders, make_courier):
        tired = make_courier("tired")
        rested = make_courier("rested")
        Courier.objects.filter(pk=tired.pk).update(
            load_date=timezone.localdate() - timedelta(days=1), deliveries_on_load_date=40
        )
        Courier.objects.filter(pk=rested.pk).update(idle_since=timezone.now())
        orders.set("o1", "cooking")
        handle(orders, "o1", "created")
        assert delivery("o1").courier == tired

    def test_ties_go_to_the_courier_idle_longest(self, orders, make_courier):
        recent = make_courier("recent")
        longest = make_courier("longest")
        Courier.objects.filter(pk=longest.pk).update(idle_since=timezone.now() - timedelta(hours=1))
        Courier.objects.filter(pk=recent.pk).update(idle_since=timezone.now())
        orders.set("o1", "cooking")
        handle(orders, "o1", "created")
        assert delivery("o1").courier == longest

    def test_deadline_follows_the_transport_type(self, orders, make_courier, settings):
        settings.DELIVERY_MINUTES = {"on_foot": 30, "scooter": 15, "car": 5}
        make_courier(transport_type="on_foot")
        orders.set("o1", "cooking")
        handle(orders, "o1", "created")
        d = delivery("o1")
        assert d.deadline - d.assigned_at == timedelta(minutes=30)


class TestFinishedOrders:
    @pytest.mark.parametrize(
        ("status", "outcome", "final"),
        [
            ("completed", Outcome.COMPLETED, Delivery.Status.COMPLETED),
            ("delivered", Outcome.COMPLETED, Delivery.Status.COMPLETED),
            ("canceled", Outcome.CANCELLED, Delivery.Status.CANCELLED),
            ("cancelled", Outcome.CANCELLED, Delivery.Status.CANCELLED),
            ("deleted", Outcome.CANCELLED, Delivery.Status.CANCELLED),
        ],
    )
    def test_the_courier_is_released(self, orders, make_courier, status, outcome, final):
        courier = make_courier()
        orders.set("o1", "cooking")
        handle(orders, "o1", "created")
        orders.set("o1", status)

        assert handle(orders, "o1", status).outcome == outcome
        d = delivery("o1")
        assert d.status == final
        assert d.finished_at is not None
        courier.refresh_from_db()
        assert courier.status == Courier.Status.AVAILABLE

    def test_the_released_courier_takes_the_oldest_waiting_order(self, orders, make_courier):
        courier = make_courier()
        for order_id in ("o1", "o2", "o3"):
            orders.set(order_id, "cooking")
            handle(orders, order_id, "created")
        orders.set("o1", "completed")

        handle(orders, "o1", "completed")

        assert delivery("o2").status == Delivery.Status.ASSIGNED
        assert delivery("o2").courier == courier
        assert delivery("o3").status == Delivery.Status.AWAITING_COURIER
        courier.refresh_from_db()
        assert courier.status == Courier.Status.BUSY

    def test_a_waiting_order_that_ends_leaves_the_queue(self, orders):
        orders.set("o1", "cooking")
        handle(orders, "o1", "created")
        orders.set("o1", "canceled")
        assert handle(orders, "o1", "canceled").outcome == Outcome.CANCELLED
        assert delivery("o1").status == Delivery.Status.CANCELLED

    def test_duplicates_of_the_end_are_unchanged(self, orders, make_courier):
        make_courier()
        orders.set("o1", "cooking")
        handle(orders, "o1", "created")
        orders.set("o1", "completed")
        handle(orders, "o1", "completed")
        assert handle(orders, "o1", "completed").outcome == Outcome.UNCHANGED

    def test_first_news_is_the_end_is_remembered_and_makes_no_delivery(self, orders, make_courier):
        courier = make_courier()
        orders.set("o1", "completed")
        assert handle(orders, "o1", "created").outcome == Outcome.UNCHANGED
        assert not Delivery.objects.exists()
        assert knowledge("o1").read_status == "completed"
        assert Courier.objects.get(pk=courier.pk).status == Courier.Status.AVAILABLE

    def test_a_finished_delivery_is_never_reopened_by_an_event(self, orders, make_courier):
        make_courier()
        orders.set("o1", "cooking")
        handle(orders, "o1", "created")
        orders.set("o1", "canceled")
        handle(orders, "o1", "canceled")
        orders.set("o1", "cooking")  # what no order does once ended: the delivery stays finished all the same
        assert handle(orders, "o1", "cooking").outcome == Outcome.UNCHANGED
        assert delivery("o1").status == Delivery.Status.CANCELLED
        assert not Delivery.objects.filter(status=Delivery.Status.ASSIGNED).exists()

    def test_an_older_active_reading_gives_no_delivery_to_an_order_first_known_ended(self, orders, make_courier):
        make_courier()
        orders.set("o1", "cooking")
        [older] = read(orders, "o1")  # a slower worker's reading, committed after a newer one
        orders.set("o1", "canceled")
        handle(orders, "o1", "canceled")

        assert order_reading_apply(reading=older).outcome == Outcome.UNCHANGED
        assert not Delivery.objects.exists()
        assert knowledge("o1").read_status == "canceled"

    def test_an_order_first_known_ended_gets_no_courier_when_read_delivering_after_the_10_minute_mark(
        self, orders, make_courier
    ):
        # The real service-order reads every order older than 10 minutes as delivering, ended ones too: a later
        # event (a duplicate, a replay) must not give the finished order a delivery and a courier.
        courier = make_courier()
        orders.set("o1", "completed")
        handle(orders, "o1", "completed")
        orders.set("o1", "delivering")

        handle(orders, "o1", "created")

        assert not Delivery.objects.filter(status__in=Delivery.OPEN).exists()
        assert Courier.objects.get(pk=courier.pk).status == Courier.Status.AVAILABLE


class TestDistrust:
    def test_event_says_done_but_order_is_active_is_stale(self, orders, make_courier):
        make_courier()
        orders.set("o1", "cooking")
        handle(orders, "o1", "created")

        result = handle(orders, "o1", "completed")

        assert result.outcome == Outcome.STALE
        assert delivery("o1").status == Delivery.Status.ASSIGNED

    def test_stale_without_a_delivery_starts_one_disputed_that_takes_no_courier(self, orders, make_courier):
        courier = make_courier()
        orders.set("o1", "cooking")
        assert handle(orders, "o1", "deleted").outcome == Outcome.STALE
        d = delivery("o1")
        assert (d.status, d.courier, d.disputed) == (Delivery.Status.AWAITING_COURIER, None, True)
        assert (d.order.end_announced, d.order.read_status) == ("deleted", "cooking")
        assert list(OutboxEvent.objects.values_list("order_id", "type")) == [("o1", "disputed")]
        assert Courier.objects.get(pk=courier.pk).status == Courier.Status.AVAILABLE

    def test_an_end_among_collapsed_events_opens_a_dispute(self, orders, make_courier):
        courier = make_courier()
        orders.set("o1", "cooking")
        result = order_events_handle(order_id="o1", event_statuses=["completed", "created"], client=orders)
        assert result.outcome == Outcome.STALE
        assert orders.calls == ["o1"]
        assert (delivery("o1").disputed, delivery("o1").courier) == (True, None)
        assert knowledge("o1").end_announced == "completed"
        assert Courier.objects.get(pk=courier.pk).status == Courier.Status.AVAILABLE

    def test_the_event_says_active_but_the_order_is_done(self, orders, make_courier):
        make_courier()
        orders.set("o1", "cooking")
        handle(orders, "o1", "created")
        orders.set("o1", "completed")
        assert handle(orders, "o1", "pending").outcome == Outcome.COMPLETED

    def test_unknown_status_changes_nothing(self, orders, make_courier):
        make_courier()
        orders.set("o1", "teleported")
        assert handle(orders, "o1", "created").outcome == Outcome.UNKNOWN_STATUS
        assert not Delivery.objects.exists()

    def test_unknown_order_is_recorded_and_gets_no_delivery(self, orders, make_courier):
        courier = make_courier()
        result = handle(orders, "ghost", "created")
        assert (result.outcome, result.order_status) == (Outcome.NOT_FOUND, None)
        assert not Delivery.objects.exists()
        assert knowledge("ghost").read_status == OrderKnowledge.NOT_FOUND
        assert Courier.objects.get(pk=courier.pk).status == Courier.Status.AVAILABLE

    def test_a_deleted_order_we_serve_is_cancelled(self, orders, make_courier):
        courier = make_courier()
        orders.set("o1", "cooking")
        handle(orders, "o1", "created")
        del orders.statuses["o1"]  # service-order answers 404 for deleted orders

        assert handle(orders, "o1", "deleted").outcome == Outcome.CANCELLED
        d = delivery("o1")
        assert (d.status, d.order_status) == (Delivery.Status.CANCELLED, OrderKnowledge.NOT_FOUND)
        courier.refresh_from_db()
        assert courier.status == Courier.Status.AVAILABLE

    def test_service_order_down_raises_and_changes_nothing(self, orders, make_courier):
        make_courier()
        orders.fail("o1", OrderServiceUnavailable("down"))
        with pytest.raises(OrderServiceUnavailable):
            handle(orders, "o1", "created")
        assert not Delivery.objects.exists()


class TestMatchingWaitingOrders:
    def test_idle_couriers_take_the_oldest_waiting_orders_least_loaded_first(self):
        # The state a lost wake-up leaves, written directly: couriers available next to waiting orders.
        oldest, second, third = (create_delivery(order_id=f"o{i}") for i in range(3))
        loaded = create_courier(name="loaded")
        fresh = create_courier(name="fresh")
        Courier.objects.filter(pk=loaded.pk).update(
            load_date=timezone.localdate(), deliveries_on_load_date=3, idle_since=timezone.now() - timedelta(hours=1)
        )

        assert deliveries_match_waiting() == 2

        assert delivery(oldest.order_id).courier == fresh
        assert delivery(second.order_id).courier == loaded
        assert delivery(third.order_id).status == Delivery.Status.AWAITING_COURIER
        assert set(Courier.objects.values_list("status", flat=True)) == {Courier.Status.BUSY}

    def test_nothing_to_match_changes_nothing(self):
        waiting = create_delivery(order_id="o1")
        create_courier(status=Courier.Status.PAUSED)

        assert deliveries_match_waiting() == 0

        assert delivery(waiting.order_id).status == Delivery.Status.AWAITING_COURIER


class TestFleet:
    def test_a_new_courier_takes_the_oldest_waiting_order(self, orders, make_courier):
        orders.set("o1", "cooking")
        orders.set("o2", "cooking")
        handle(orders, "o1", "created")
        handle(orders, "o2", "created")
        courier = make_courier()
        assert delivery("o1").courier == courier
        assert delivery("o2").status == Delivery.Status.AWAITING_COURIER

    def test_a_resumed_courier_takes_the_oldest_waiting_order(self, orders, make_courier):
        courier = make_courier(status=Courier.Status.PAUSED)
        orders.set("o1", "cooking")
        handle(orders, "o1", "created")
        courier_make_available(courier_id=courier.pk)
        assert delivery("o1").courier == courier

    def test_a_busy_courier_cannot_be_paused(self, orders, make_courier):
        courier = make_courier()
        orders.set("o1", "cooking")
        handle(orders, "o1", "created")
        with pytest.raises(Conflict) as error:
            courier_pause(courier_id=courier.pk)
        assert error.value.code == "courier_busy"
        courier.refresh_from_db()
        assert courier.status == Courier.Status.BUSY

    def test_update_changes_details_and_status(self, make_courier):
        courier = make_courier()
        updated = courier_update(courier_id=courier.pk, name="Renamed", status=Courier.Status.PAUSED)
        assert (updated.name, updated.status) == ("Renamed", Courier.Status.PAUSED)
        with pytest.raises(Conflict):
            courier_update(courier_id=courier.pk, status=Courier.Status.BUSY)

    def test_a_courier_with_history_cannot_be_deleted(self, orders, make_courier):
        courier = make_courier()
        orders.set("o1", "cooking")
        handle(orders, "o1", "created")
        with pytest.raises(Conflict):
            courier_delete(courier_id=courier.pk)
        spare = make_courier()
        courier_delete(courier_id=spare.pk)
        assert not Courier.objects.filter(pk=spare.pk).exists()

    def test_missing_courier_is_not_found(self):
        with pytest.raises(NotFound):
            courier_pause(courier_id=999_999)


class TestManualDispatch:
    def test_assign_checks_service_order_first(self, orders, make_courier):
        make_courier()
        orders.set("o1", "completed")
        with pytest.raises(Conflict) as error:
            delivery_assign(order_id="o1", client=orders)
        assert "completed" in error.value.message
        assert not Delivery.objects.exists()

    def test_assign_unknown_order_is_not_found(self, orders):
        with pytest.raises(NotFound):
            delivery_assign(order_id="ghost", client=orders)

    def test_unassign_puts_the_order_back_in_the_queue_and_pauses_the_courier(self, orders, make_courier):
        courier = make_courier()
        orders.set("o1", "cooking")
        delivery_assign(order_id="o1", client=orders)

        waiting = delivery_unassign(order_id="o1")

        assert (waiting.status, waiting.courier, waiting.assigned_at, waiting.deadline) == (
            Delivery.Status.AWAITING_COURIER,
            None,
            None,
            None,
        )
        courier.refresh_from_db()
        assert courier.status == Courier.Status.PAUSED

    def test_unassigned_order_keeps_its_place_ahead_of_later_orders(self, orders, make_courier):
        courier = make_courier()
        for order_id in ("o1", "o2"):
            orders.set(order_id, "cooking")
            delivery_assign(order_id=order_id, client=orders)
        delivery_unassign(order_id="o1")

        courier_make_available(courier_id=courier.pk)

        assert (delivery("o1").courier, delivery("o2").status) == (courier, Delivery.Status.AWAITING_COURIER)

    def test_unassign_without_delivery_is_not_found(self):
        with pytest.raises(NotFound):
            delivery_unassign(order_id="nothing")

    def test_cancel_frees_the_courier(self, orders, make_courier):
        courier = make_courier()
        orders.set("o1", "cooking")
        delivery_assign(order_id="o1", client=orders)

        assert delivery_cancel(order_id="o1").status == Delivery.Status.CANCELLED
        courier.refresh_from_db()
        assert courier.status == Courier.Status.AVAILABLE

    def test_cancel_a_finished_delivery_is_a_conflict(self, orders, make_courier):
        make_courier()
        orders.set("o1", "cooking")
        handle(orders, "o1", "created")
        orders.set("o1", "completed")
        handle(orders, "o1", "completed")
        with pytest.raises(Conflict):
            delivery_cancel(order_id="o1")

    def test_cancel_an_order_first_known_ended_is_not_found(self, orders):
        orders.set("o1", "completed")
        handle(orders, "o1", "completed")
        with pytest.raises(NotFound):
            delivery_cancel(order_id="o1")

    def test_a_reopened_delivery_waiting_for_a_courier_has_no_deadline(self, orders, make_courier):
        courier = make_courier()
        orders.set("o1", "cooking")
        delivery_assign(order_id="o1", client=orders)
        delivery_cancel(order_id="o1")
        courier_pause(courier_id=courier.pk)

        reopened = delivery_assign(order_id="o1", client=orders)

        assert (reopened.status, reopened.courier, reopened.assigned_at, reopened.deadline) == (
            Delivery.Status.AWAITING_COURIER,
            None,
            None,
            None,
        )


def recorded_newer(order_id: str) -> tuple[str, object]:
    """Another worker's newer answer, recorded in the order's knowledge; returned as (status, time)."""
    newer = timezone.now() + timedelta(seconds=5)
    OrderKnowledge.objects.filter(order_id=order_id).update(read_status="delivering", read_at=newer)
    return "delivering", newer


def read_as_recorded(order_id: str) -> tuple[str, object]:
    known = knowledge(order_id)
    return known.read_status, known.read_at


class TestSettledDeliveries:
    """An event that cannot change the delivery changes nothing but the knowledge's reading: no event, no version.
    In a batch it costs one short transaction per status read (TestReadingsRecordedTogether)."""

    def test_a_duplicate_for_an_order_with_its_courier_only_records_the_reading(self, orders, make_courier):
        make_courier()
        orders.set("o1", "pending")
        handle(orders, "o1", "created")
        orders.set("o1", "cooking")
        before = (delivery("o1").version, OutboxEvent.objects.count())

        assert handle(orders, "o1", "cooking").outcome == Outcome.UNCHANGED
        assert (delivery("o1").order_status, delivery("o1").status) == ("cooking", Delivery.Status.ASSIGNED)
        assert (delivery("o1").version, OutboxEvent.objects.count()) == before

    def test_a_duplicate_of_the_end_is_one_transaction_in_a_batch(
        self, orders, make_courier, django_assert_num_queries
    ):
        make_courier()
        orders.set("o1", "cooking")
        handle(orders, "o1", "created")
        orders.set("o1", "completed")
        handle(orders, "o1", "completed")
        orders.set("o2", "completed")
        handle(orders, "o2", "completed")  # first known ended: no delivery to leave as is
        duplicates = read(orders, "o1", "o2", events=())

        # A SELECT ... FOR UPDATE and an UPDATE, in a savepoint (a transaction outside tests).
        with django_assert_num_queries(4):
            results = order_readings_record_settled(readings=duplicates)

        assert {order_id: result.outcome for order_id, result in results.items()} == {
            "o1": Outcome.UNCHANGED,
            "o2": Outcome.UNCHANGED,
        }
        assert read_as_recorded("o2") == ("completed", duplicates[0].asked_at)  # the group's earliest
        assert list(Delivery.objects.values_list("order_id", "status")) == [("o1", Delivery.Status.COMPLETED)]

    def test_an_older_reading_does_not_overwrite_a_newer_one(self, orders, make_courier):
        make_courier()
        orders.set("o1", "cooking")
        handle(orders, "o1", "created")
        newer = recorded_newer("o1")

        assert handle(orders, "o1", "cooking").outcome == Outcome.UNCHANGED
        assert read_as_recorded("o1") == newer

    def test_a_waiting_order_still_looks_for_a_courier(self, orders, make_courier):
        orders.set("o1", "cooking")
        assert handle(orders, "o1", "created").outcome == Outcome.QUEUED
        make_courier(status=Courier.Status.PAUSED)  # not available: the order keeps waiting
        assert handle(orders, "o1", "cooking").outcome == Outcome.UNCHANGED
        assert delivery("o1").status == Delivery.Status.AWAITING_COURIER


def read(orders, *order_ids: str, events=("created",)) -> list[Reading]:
    return [order_read(order_id=order_id, event_statuses=list(events), client=orders) for order_id in order_ids]


def readings_to_decide_alone(orders) -> list[Reading]:
    """Readings neither batch step takes: an order waiting for a courier, a status unknown, an order service-order
    does not know, and a stale one (the events say delivered, service-order still says cooking)."""
    orders.set("waiting", "cooking")
    handle(orders, "waiting", "created")  # no courier: it waits
    orders.set("unknown", "teleporting")
    orders.set("stale", "cooking")
    return read(orders, "waiting", "unknown", "missing") + read(orders, "stale", events=("delivered",))


class TestAnOlderReadingNeverUndoesANewerOne:
    """Two workers may check one order at once (events are unkeyed) and commit in any order."""

    def assigned_after(self, orders, make_courier) -> list[Reading]:
        """A reading taken now, then the order assigned by a newer one (another worker's)."""
        courier = make_courier()
        [older] = read(orders, "o1")
        orders.set("o1", "pending")
        handle(orders, "o1", "created")
        assert (delivery("o1").status, delivery("o1").courier) == (Delivery.Status.ASSIGNED, courier)
        return [older]

    def test_an_older_not_found_leaves_a_newer_assignment(self, orders, make_courier):
        [older] = self.assigned_after(orders, make_courier)  # not found when it was read

        assert older.order_status is None
        assert order_reading_apply(reading=older).outcome == Outcome.UNCHANGED
        assert delivery("o1").status == Delivery.Status.ASSIGNED
        assert delivery("o1").order_status == "pending"

    @pytest.mark.parametrize("together", [False, True])
    def test_an_older_active_reading_gives_no_courier_to_an_order_found_missing_since(
        self, orders, make_courier, together
    ):
        make_courier()
        orders.set("o1", "cooking")
        [older] = read(orders, "o1")
        del orders.statuses["o1"]  # deleted: a newer reading (another worker's) finds it missing
        assert handle(orders, "o1", "created").outcome == Outcome.NOT_FOUND

        if together:  # the batch's steps, as the consumer runs them
            assert order_readings_start(readings=[older]) == {}
            assert order_readings_record_settled(readings=[older]) == {}
        assert order_reading_apply(reading=older).outcome == Outcome.NOT_FOUND

        assert not Delivery.objects.exists()
        assert knowledge("o1").read_status == OrderKnowledge.NOT_FOUND
        assert set(Courier.objects.values_list("status", flat=True)) == {Courier.Status.AVAILABLE}

    @pytest.mark.parametrize("ended", ["completed", "canceled"])
    def test_an_older_end_leaves_a_newer_assignment(self, orders, make_courier, ended):
        orders.set("o1", ended)
        [older] = self.assigned_after(orders, make_courier)

        assert order_reading_apply(reading=older).outcome == Outcome.UNCHANGED
        assert delivery("o1").status == Delivery.Status.ASSIGNED


class TestReadingsRecordedTogether:
    """A batch's readings that cannot change their deliveries are recorded in one transaction per status."""

    def test_orders_with_their_courier_are_recorded_in_one_transaction(
        self, orders, make_courier, django_assert_num_queries
    ):
        for i in range(3):
            make_courier(f"c{i}")
            orders.set(f"o{i}", "cooking")
            handle(orders, f"o{i}", "created")
        orders.set("o1", "delivering")
        readings = read(orders, "o0", "o1", "o2")

        # Per status: a SELECT ... FOR UPDATE and an UPDATE, in a savepoint (a transaction outside tests).
        with django_assert_num_queries(8):
            results = order_readings_record_settled(readings=readings)

        assert {order_id: result.outcome for order_id, result in results.items()} == dict.fromkeys(
            ["o0", "o1", "o2"], Outcome.UNCHANGED
        )
        assert [delivery(f"o{i}").order_status for i in range(3)] == ["cooking", "delivering", "cooking"]
        assert all(knowledge(f"o{i}").read_at == min(r.asked_at for r in readings[::2]) for i in (0, 2))

    def test_what_a_reading_could_change_is_left_to_decide_alone(self, orders):
        orders.set("new", "cooking")
        readings = readings_to_decide_alone(orders) + read(orders, "new")

        assert order_readings_record_settled(readings=readings) == {}

        results = {r.order_id: order_reading_apply(reading=r).outcome for r in readings}
        assert results == {
            "waiting": Outcome.UNCHANGED,  # still no courier
            "new": Outcome.QUEUED,
            "unknown": Outcome.UNKNOWN_STATUS,
            "missing": Outcome.NOT_FOUND,
            "stale": Outcome.STALE,
        }

    def test_an_older_reading_is_left_out(self, orders, make_courier):
        make_courier()
        orders.set("o1", "cooking")
        handle(orders, "o1", "created")
        [reading] = read(orders, "o1")
        newer = recorded_newer("o1")

        assert order_readings_record_settled(readings=[reading]) == {}
        assert order_reading_apply(reading=reading).outcome == Outcome.UNCHANGED
        assert read_as_recorded("o1") == newer


class TestNewOrdersStartedTogether:
    """A batch's first checks: deliveries created and couriers taken in one transaction, as one by one would."""

    def test_each_new_order_gets_the_courier_one_by_one_would_give_it(
        self, orders, make_courier, django_assert_max_num_queries
    ):
        busiest, idle_longest, fresh = make_courier("busiest", "car"), make_courier("idle longest"), make_courier()
        today = timezone.localdate()
        Courier.objects.filter(pk=busiest.pk).update(load_date=today, deliveries_on_load_date=3)
        Courier.objects.filter(pk=idle_longest.pk).update(idle_since=timezone.now() - timedelta(hours=1))
        arrival = ("o3", "o1", "o2")  # the order of their first events, not of their ids
        for order_id in arrival:
            orders.set(order_id, "cooking")

        with django_assert_max_num_queries(8):  # whatever the number of orders
            results = order_readings_start(readings=read(orders, *arrival))

        assert {order_id: r.outcome for order_id, r in results.items()} == dict.fromkeys(
            ["o1", "o2", "o3"], Outcome.ASSIGNED
        )
        assert [delivery(o).courier for o in arrival] == [idle_longest, fresh, busiest]
        assert delivery("o2").deadline == delivery("o2").assigned_at + timedelta(
            minutes=settings.DELIVERY_MINUTES["car"]
        )
        assert Courier.objects.get(pk=busiest.pk).deliveries_on_load_date == 4
        assert set(Courier.objects.values_list("status", flat=True)) == {Courier.Status.BUSY}

    def test_orders_beyond_the_free_couriers_wait_in_the_batchs_order(
        self, orders, make_courier, django_capture_on_commit_callbacks
    ):
        make_courier()
        arrival = ("o4", "o3", "o1", "o2")  # the order of their first events, not of their ids
        for order_id in arrival:
            orders.set(order_id, "cooking")

        with django_capture_on_commit_callbacks() as callbacks:
            results = order_readings_start(readings=read(orders, *arrival))

        assert [results[o].outcome for o in arrival] == [Outcome.ASSIGNED, *[Outcome.QUEUED] * 3]
        waiting = Delivery.objects.filter(status=Delivery.Status.AWAITING_COURIER).order_by("created_at", "id")
        assert [d.order_id for d in waiting] == ["o3", "o1", "o2"], "served first come, as the queue is"
        assert callbacks, "the matching step runs after the commit (lost wake-up)"

    def test_orders_with_a_delivery_or_not_active_are_left_out(self, orders, make_courier):
        orders.set("done", "delivered")
        readings = readings_to_decide_alone(orders) + read(orders, "done")
        make_courier("takes the waiting order")
        make_courier("stays free")  # yet none of them is started

        assert order_readings_start(readings=readings) == {}
        assert list(Delivery.objects.values_list("order_id", flat=True)) == ["waiting"]
